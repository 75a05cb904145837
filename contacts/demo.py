"""Read the demo data sets in demo_data/ and upsert them as contacts.

Two real data sets ship with the repository (docs/demo-data.md gives their
sources and licences):

- UCI Online Retail: invoice lines of a UK online shop. Each CustomerID
  becomes a customer with code "retail-<CustomerID>", and each anonymous
  purchase invoice becomes a visitor.
- Chinook: a music store's 59 customers with addresses, 10 companies and the
  8 employees who own them as support reps.

The readers (`iter_retail_orders`, `iter_chinook_invoices`) also return the
orders with their lines, so the events app can load them as events. Every
file is parsed in full before the first write, and the writes run in one
transaction, so bad input raises `DemoDataError` and writes nothing.
"""

import csv
import gzip
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, NoReturn
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from contacts.models import Company, Customer, CustomerState

DEMO_DATA_DIR = Path(settings.BASE_DIR) / "demo_data"
RETAIL_PATH = DEMO_DATA_DIR / "online_retail.csv.gz"
CHINOOK_PATH = DEMO_DATA_DIR / "chinook.json.gz"

RETAIL_CODE_PREFIX = "retail-"
RETAIL_VISITOR_PREFIX = "retail-invoice-"
CHINOOK_CODE_PREFIX = "chinook-"

# The shop's invoice times are London wall-clock times to the minute.
RETAIL_TIME_ZONE = ZoneInfo("Europe/London")
RETAIL_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
RETAIL_DATE_FORMAT = "%Y-%m-%dT%H:%M"
# Online Retail spells two countries unlike Chinook. One name per country
# lets a single "country is Ireland" condition find both data sets' contacts.
RETAIL_COUNTRY_NAMES = {"EIRE": "Ireland", "RSA": "South Africa"}

# Counts of a fresh load of the shipped files. `check_demo_counts`, the tests
# and CI compare the database against them.
EXPECTED_RETAIL_CUSTOMERS = 4372
EXPECTED_RETAIL_VISITORS = 1427
EXPECTED_CHINOOK_CUSTOMERS = 59
EXPECTED_CHINOOK_COMPANIES = 10

# Chinook customer 49's email, stanisław.wójcik@wp.pl, has a non-ASCII local
# part (RFC 6531). Django's EmailValidator rejects it, so the loader keeps the
# source's address unchecked.
UNVALIDATED_FIELDS = ["primary_email"]

BATCH_SIZE = 500
PROGRESS_EVERY_LINES = 50_000

Progress = Callable[[str], None]
OrderKind = Literal["order", "cancellation", "adjustment"]


class DemoDataError(Exception):
    """A demo data file is missing or does not have the expected content."""


def _no_progress(message: str) -> None:
    pass


# Online Retail -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetailOrderLine:
    stock_code: str
    description: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class RetailOrder:
    """One Online Retail invoice with its lines.

    Exactly one of `customer_code` and `visitor_id` is set. Cancellations keep
    the source's negative quantities, so their `amount` is negative.
    """

    invoice_no: str
    kind: OrderKind
    customer_code: str | None
    visitor_id: str | None
    country: str
    occurred_at: datetime
    lines: tuple[RetailOrderLine, ...]

    @property
    def amount(self) -> Decimal:
        """Return the invoice total in GBP, rounded to pence."""
        total = sum((line.quantity * line.unit_price for line in self.lines), 0)
        return Decimal(total).quantize(Decimal("0.01"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_cancellation(self) -> bool:
        return self.kind == "cancellation"


def _open_text(path: Path):
    if not Path(path).is_file():
        raise DemoDataError(
            f"The demo data file {path} is missing. Restore it from the "
            "repository's demo_data/ folder."
        )
    return gzip.open(path, "rt", encoding="utf-8", newline="")


def _order_kind(invoice_no: str, lines: list[RetailOrderLine]) -> OrderKind:
    # "C" invoices cancel earlier ones and "A" invoices adjust bad debt. An
    # invoice whose every price is 0 records stock corrections ("damaged",
    # "check"), not a sale.
    if invoice_no.startswith("C"):
        return "cancellation"
    if invoice_no.startswith("A") or all(line.unit_price == 0 for line in lines):
        return "adjustment"
    return "order"


class _RetailLineParser:
    """Field parser for the CSV rows, with caches for the repeated dates and
    prices that make up most of the file."""

    def __init__(self, path: Path):
        self.path = path
        self.times: dict[str, datetime] = {}
        self.prices: dict[str, Decimal] = {}

    def fail(
        self, line_number: int, column: str, value: str, expected: str
    ) -> NoReturn:
        raise DemoDataError(
            f"{self.path} line {line_number}: {column} {value!r} is not "
            f"{expected}. Restore the file from the repository's demo_data/ "
            "folder."
        )

    def occurred_at(self, value: str, line_number: int) -> datetime:
        moment = self.times.get(value)
        if moment is None:
            try:
                naive = datetime.strptime(value, RETAIL_DATE_FORMAT)
            except ValueError:
                self.fail(line_number, "InvoiceDate", value, "a YYYY-MM-DDTHH:MM time")
            moment = naive.replace(tzinfo=RETAIL_TIME_ZONE)
            self.times[value] = moment
        return moment

    def unit_price(self, value: str, line_number: int) -> Decimal:
        price = self.prices.get(value)
        if price is None:
            try:
                price = Decimal(value)
            except InvalidOperation:
                price = None
            if price is None or not price.is_finite():
                self.fail(line_number, "UnitPrice", value, "a decimal number")
            self.prices[value] = price
        return price

    def quantity(self, value: str, line_number: int) -> int:
        try:
            return int(value)
        except ValueError:
            self.fail(line_number, "Quantity", value, "a whole number")


def iter_retail_orders(
    path: Path = RETAIL_PATH, *, progress: Progress = _no_progress
) -> Iterator[RetailOrder]:
    """Yield the Online Retail invoices in file order, one `RetailOrder` each.

    The whole file is read before the first order is yielded, because a few
    invoices' lines are not adjacent in the file. `occurred_at` is the
    invoice's earliest line time, aware in Europe/London.
    """
    parser = _RetailLineParser(path)
    lines_by_invoice: dict[str, list[RetailOrderLine]] = {}
    heads: dict[str, tuple[str, str, datetime]] = {}

    try:
        with _open_text(path) as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if header != RETAIL_COLUMNS:
                raise DemoDataError(
                    f"{path} starts with the columns {header}, expected "
                    f"{', '.join(RETAIL_COLUMNS)}. Restore the file from the "
                    "repository's demo_data/ folder."
                )
            for row in reader:
                line_number = reader.line_num
                if len(row) != len(RETAIL_COLUMNS):
                    raise DemoDataError(
                        f"{path} line {line_number} has {len(row)} fields, "
                        f"expected {len(RETAIL_COLUMNS)}. Restore the file from "
                        "the repository's demo_data/ folder."
                    )
                invoice_no, stock_code, description, quantity, when = row[:5]
                price, customer_id, country = row[5:]
                if not invoice_no:
                    parser.fail(
                        line_number, "InvoiceNo", invoice_no, "an invoice number"
                    )
                if customer_id and not customer_id.isdigit():
                    parser.fail(line_number, "CustomerID", customer_id, "a number")
                if not country:
                    parser.fail(line_number, "Country", country, "a country name")

                moment = parser.occurred_at(when, line_number)
                head = heads.get(invoice_no)
                if head is None:
                    heads[invoice_no] = (customer_id, country, moment)
                    lines_by_invoice[invoice_no] = []
                elif head[0] != customer_id:
                    parser.fail(
                        line_number,
                        "CustomerID",
                        customer_id,
                        f"the customer {head[0]!r} of the invoice's other lines",
                    )
                elif moment < head[2]:
                    heads[invoice_no] = (customer_id, country, moment)
                lines_by_invoice[invoice_no].append(
                    RetailOrderLine(
                        stock_code=stock_code,
                        description=description,
                        quantity=parser.quantity(quantity, line_number),
                        unit_price=parser.unit_price(price, line_number),
                    )
                )
                if line_number % PROGRESS_EVERY_LINES == 0:
                    progress(f"Reading Online Retail: {line_number:,} lines")
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise DemoDataError(
            f"{path} could not be read as gzip-compressed UTF-8 CSV ({error}). "
            "Restore the file from the repository's demo_data/ folder."
        ) from error

    for invoice_no, lines in lines_by_invoice.items():
        customer_id, country, moment = heads[invoice_no]
        yield RetailOrder(
            invoice_no=invoice_no,
            kind=_order_kind(invoice_no, lines),
            customer_code=f"{RETAIL_CODE_PREFIX}{customer_id}" if customer_id else None,
            visitor_id=None if customer_id else f"{RETAIL_VISITOR_PREFIX}{invoice_no}",
            country=RETAIL_COUNTRY_NAMES.get(country, country),
            occurred_at=moment,
            lines=tuple(lines),
        )


@dataclass(slots=True)
class _RetailBuyer:
    """Running totals of one customer's or visitor's invoices."""

    country: str
    first_seen: datetime
    last_seen: datetime
    orders: int = 0
    cancellations: int = 0
    spend: Decimal = Decimal("0.00")
    first_order: date | None = None
    last_order: date | None = None

    def add(self, order: RetailOrder) -> None:
        if order.occurred_at < self.first_seen:
            self.first_seen = order.occurred_at
        if order.occurred_at >= self.last_seen:
            # A customer who ordered from two countries keeps the latest one.
            self.last_seen = order.occurred_at
            self.country = order.country
        if order.kind == "adjustment":
            return

        self.spend += order.amount
        if order.is_cancellation:
            self.cancellations += 1
            return
        self.orders += 1
        day = order.occurred_at.date()
        self.first_order = min(self.first_order or day, day)
        self.last_order = max(self.last_order or day, day)

    def tracked_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": "online_retail",
            "orders": self.orders,
            "cancellations": self.cancellations,
            "spend_gbp": float(self.spend),
        }
        if self.first_order:
            data["first_order"] = self.first_order.isoformat()
            data["last_order"] = self.last_order.isoformat()
        return data

    def customer(self, **identity: Any) -> Customer:
        return Customer(
            country=self.country,
            created_at=self.first_seen,
            last_seen_at=self.last_seen,
            tracked_data=self.tracked_data(),
            **identity,
        )


def _retail_buyers(
    orders: Sequence[RetailOrder],
) -> tuple[dict[str, _RetailBuyer], dict[str, _RetailBuyer]]:
    """Sum the orders per customer code, and per visitor for anonymous
    purchases. Anonymous cancellations and adjustments make no visitor."""
    customers: dict[str, _RetailBuyer] = {}
    visitors: dict[str, _RetailBuyer] = {}
    for order in orders:
        if order.customer_code:
            buyers, key = customers, order.customer_code
        elif order.kind == "order":
            buyers, key = visitors, order.visitor_id
        else:
            continue
        buyer = buyers.get(key)
        if buyer is None:
            buyer = buyers[key] = _RetailBuyer(
                country=order.country,
                first_seen=order.occurred_at,
                last_seen=order.occurred_at,
            )
        buyer.add(order)
    return customers, visitors


# Chinook --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChinookInvoiceLine:
    track: str
    genre: str
    media_type: str
    artist: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class ChinookInvoice:
    invoice_id: int
    customer_code: str
    occurred_at: datetime
    total: Decimal
    billing_city: str
    billing_country: str
    lines: tuple[ChinookInvoiceLine, ...]


@dataclass
class ChinookData:
    """The Chinook fixture's rows by model name, each a dict of fields plus
    "pk"."""

    path: Path
    rows: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)

    def table(self, name: str) -> dict[int, dict[str, Any]]:
        return self.rows.get(name, {})

    def value(self, name: str, pk: int, key: str) -> Any:
        """Return a field that must be present and not empty."""
        value = self.table(name).get(pk, {}).get(key)
        if value is None or value == "":
            raise DemoDataError(
                f"{self.path}: the chinook.{name} row {pk} has no {key!r}. "
                "Restore the file from the repository's demo_data/ folder."
            )
        return value

    def decimal(self, name: str, pk: int, key: str) -> Decimal:
        raw = self.value(name, pk, key)
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise DemoDataError(
                f"{self.path}: the chinook.{name} row {pk} has {key} {raw!r}, "
                "which is not a number. Restore the file from the repository's "
                "demo_data/ folder."
            )
        return number

    def integer(self, name: str, pk: int, key: str) -> int:
        raw = self.value(name, pk, key)
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise DemoDataError(
                f"{self.path}: the chinook.{name} row {pk} has {key} {raw!r}, "
                "which is not a whole number. Restore the file from the "
                "repository's demo_data/ folder."
            )
        return raw

    def moment(self, name: str, pk: int, key: str) -> datetime:
        raw = self.value(name, pk, key)
        try:
            moment = datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            moment = None
        if moment is None or moment.tzinfo is None:
            raise DemoDataError(
                f"{self.path}: the chinook.{name} row {pk} has {key} {raw!r}, "
                "which is not an ISO time with a zone. Restore the file from "
                "the repository's demo_data/ folder."
            )
        return moment


def read_chinook(path: Path = CHINOOK_PATH) -> ChinookData:
    """Read the Chinook fixture (a Django fixture list) into `ChinookData`."""
    try:
        with _open_text(path) as file:
            records = json.load(file)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DemoDataError(
            f"{path} could not be read as gzip-compressed JSON ({error}). "
            "Restore the file from the repository's demo_data/ folder."
        ) from error

    data = ChinookData(path=path)
    if not isinstance(records, list):
        records = [records]
    for index, record in enumerate(records):
        if not (
            isinstance(record, dict)
            and isinstance(record.get("model"), str)
            and isinstance(record.get("pk"), int)
            and isinstance(record.get("fields"), dict)
        ):
            raise DemoDataError(
                f"{path}: record {index} is not a fixture row with model, pk and "
                "fields. Restore the file from the repository's demo_data/ "
                "folder."
            )
        name = record["model"].removeprefix("chinook.")
        data.rows.setdefault(name, {})[record["pk"]] = record["fields"]
    if not data.table("customer"):
        raise DemoDataError(
            f"{path} contains no chinook.customer rows. Restore the file from "
            "the repository's demo_data/ folder."
        )
    return data


def _chinook_line(data: ChinookData, pk: int) -> ChinookInvoiceLine:
    track_id = data.integer("invoiceline", pk, "track")
    album_id = data.integer("track", track_id, "album")
    return ChinookInvoiceLine(
        track=data.value("track", track_id, "name"),
        genre=data.value("genre", data.integer("track", track_id, "genre"), "name"),
        media_type=data.value(
            "mediatype", data.integer("track", track_id, "mediatype"), "name"
        ),
        artist=data.value("artist", data.integer("album", album_id, "artist"), "name"),
        quantity=data.integer("invoiceline", pk, "quantity"),
        unit_price=data.decimal("invoiceline", pk, "unit_price"),
    )


def iter_chinook_invoices(
    path: Path = CHINOOK_PATH, *, data: ChinookData | None = None
) -> Iterator[ChinookInvoice]:
    """Yield the Chinook invoices by id with their lines, each line with its
    track, genre, media type and artist. Times are aware (UTC)."""
    data = data or read_chinook(path)
    lines: dict[int, list[ChinookInvoiceLine]] = defaultdict(list)
    for pk in sorted(data.table("invoiceline")):
        invoice_id = data.integer("invoiceline", pk, "invoice")
        lines[invoice_id].append(_chinook_line(data, pk))

    for pk, fields in sorted(data.table("invoice").items()):
        customer_id = data.integer("invoice", pk, "customer")
        if customer_id not in data.table("customer"):
            raise DemoDataError(
                f"{data.path}: the chinook.invoice row {pk} names the customer "
                f"{customer_id}, which is not in the file. Restore the file "
                "from the repository's demo_data/ folder."
            )
        yield ChinookInvoice(
            invoice_id=pk,
            customer_code=f"{CHINOOK_CODE_PREFIX}{customer_id}",
            occurred_at=data.moment("invoice", pk, "invoicedate"),
            total=data.decimal("invoice", pk, "total"),
            billing_city=fields.get("billingcity") or "",
            billing_country=fields.get("billingcountry") or "",
            lines=tuple(lines.get(pk, ())),
        )


def _chinook_username(data: ChinookData, employee_id: int) -> str:
    email = data.value("employee", employee_id, "email")
    return email.partition("@")[0].lower()


# Upserts --------------------------------------------------------------------


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _validate(row: models.Model, key: str) -> None:
    """Raise DemoDataError unless the row's own fields are valid.

    Relations are left out because checking them costs a query per row, and
    the loader sets them from rows it has just saved.
    """
    relations = [f.name for f in row._meta.concrete_fields if f.is_relation]
    try:
        row.clean_fields(exclude=[*relations, *UNVALIDATED_FIELDS])
    except ValidationError as error:
        problems = "; ".join(
            f"{name}: {' '.join(messages)}"
            for name, messages in error.message_dict.items()
        )
        raise DemoDataError(
            f"The demo {row._meta.verbose_name} with {key} "
            f"{getattr(row, key)!r} is invalid. {problems} Restore the files "
            "from the repository's demo_data/ folder."
        ) from error


def _upsert(
    model: type[models.Model],
    rows: Sequence[models.Model],
    *,
    existing: dict[Any, models.Model],
    key: str,
    fields: Sequence[str],
) -> UpsertCounts:
    """Create the `rows` missing from `existing` (matched on `key`)
    and update the existing ones whose `fields` differ, in bulk.

    `tracked_data` is merged: keys the loader does not set, such as ones the
    widget sent later, are kept. Unchanged rows are not written, so their
    `updated_at` stays.
    """
    attnames = [model._meta.get_field(name).attname for name in fields]
    has_updated_at = any(f.name == "updated_at" for f in model._meta.fields)
    now = timezone.now()
    counts = UpsertCounts()
    to_create = []
    to_update = []

    for row in rows:
        _validate(row, key)
        current = existing.get(getattr(row, key))
        if current is None:
            to_create.append(row)
            continue
        if "tracked_data" in fields:
            row.tracked_data = {**current.tracked_data, **row.tracked_data}
        if all(getattr(current, a) == getattr(row, a) for a in attnames):
            counts.unchanged += 1
            continue
        for attname in attnames:
            setattr(current, attname, getattr(row, attname))
        if has_updated_at:
            current.updated_at = now
        to_update.append(current)

    model.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
    update_fields = [*fields, "updated_at"] if has_updated_at else list(fields)
    if to_update:
        model.objects.bulk_update(to_update, update_fields, batch_size=BATCH_SIZE)
    counts.created = len(to_create)
    counts.updated = len(to_update)
    return counts


RETAIL_FIELDS = ["state", "country", "created_at", "last_seen_at", "tracked_data"]
CHINOOK_FIELDS = [
    "state",
    "first_name",
    "last_name",
    "primary_email",
    "primary_phone",
    "city",
    "region",
    "country",
    "owner",
    "created_at",
    "last_seen_at",
    "tracked_data",
]


def _load_retail(orders: Sequence[RetailOrder], progress: Progress) -> dict:
    customers, visitors = _retail_buyers(orders)

    progress(f"Saving {len(customers):,} Online Retail customers")
    existing = {
        customer.code: customer
        for customer in Customer.objects.filter(code__startswith=RETAIL_CODE_PREFIX)
    }
    rows = [
        buyer.customer(state=CustomerState.CUSTOMER, code=code)
        for code, buyer in customers.items()
    ]
    customer_counts = _upsert(
        Customer, rows, existing=existing, key="code", fields=RETAIL_FIELDS
    )

    progress(f"Saving {len(visitors):,} anonymous Online Retail buyers as visitors")
    existing = {
        visitor.visitor_id: visitor
        for visitor in Customer.objects.filter(
            visitor_id__startswith=RETAIL_VISITOR_PREFIX
        )
    }
    rows = [
        buyer.customer(state=CustomerState.VISITOR, visitor_id=visitor_id)
        for visitor_id, buyer in visitors.items()
    ]
    visitor_counts = _upsert(
        Customer, rows, existing=existing, key="visitor_id", fields=RETAIL_FIELDS
    )
    return {"retail_customers": customer_counts, "retail_visitors": visitor_counts}


def _load_chinook_owners(data: ChinookData) -> tuple[UpsertCounts, dict[int, Any]]:
    """Upsert the employees as staff users who cannot log in, and return the
    counts and the users by employee id."""
    User = get_user_model()
    usernames = {pk: _chinook_username(data, pk) for pk in data.table("employee")}
    rows = []
    for pk, username in usernames.items():
        user = User(
            username=username,
            first_name=data.value("employee", pk, "firstname"),
            last_name=data.value("employee", pk, "lastname"),
            email=data.value("employee", pk, "email"),
            is_staff=True,
        )
        user.set_unusable_password()
        rows.append(user)

    existing = {
        user.username: user
        for user in User.objects.filter(username__in=usernames.values())
    }
    counts = _upsert(
        User,
        rows,
        existing=existing,
        key="username",
        fields=["first_name", "last_name", "email", "is_staff"],
    )
    by_username = User.objects.filter(username__in=usernames.values()).in_bulk(
        field_name="username"
    )
    return counts, {pk: by_username[name] for pk, name in usernames.items()}


def _chinook_activity(data: ChinookData) -> dict[str, dict[str, Any]]:
    """Sum each customer's invoices: count, spend and first and last time."""
    activity: dict[str, dict[str, Any]] = {}
    for invoice in iter_chinook_invoices(data=data):
        row = activity.setdefault(
            invoice.customer_code,
            {
                "orders": 0,
                "spend": Decimal("0.00"),
                "first": invoice.occurred_at,
                "last": invoice.occurred_at,
            },
        )
        row["orders"] += 1
        row["spend"] += invoice.total
        row["first"] = min(row["first"], invoice.occurred_at)
        row["last"] = max(row["last"], invoice.occurred_at)
    return activity


def _chinook_customer(
    data: ChinookData, pk: int, owners: dict[int, Any], activity: dict
) -> Customer:
    code = f"{CHINOOK_CODE_PREFIX}{pk}"
    if code not in activity:
        raise DemoDataError(
            f"{data.path}: the chinook.customer row {pk} has no invoice, so it "
            "has no first purchase to use as its creation time. Restore the "
            "file from the repository's demo_data/ folder."
        )
    fields = data.table("customer")[pk]
    owner_id = fields.get("support_rep")
    if owner_id is not None and owner_id not in owners:
        raise DemoDataError(
            f"{data.path}: the chinook.customer row {pk} names the support rep "
            f"{owner_id}, which is not an employee in the file. Restore the "
            "file from the repository's demo_data/ folder."
        )
    seen = activity[code]
    tracked = {
        "source": "chinook",
        "orders": seen["orders"],
        "spend_usd": float(seen["spend"]),
        "first_order": seen["first"].date().isoformat(),
        "last_order": seen["last"].date().isoformat(),
    }
    for source_key, key in [("address", "address"), ("postalcode", "postal_code")]:
        if fields.get(source_key):
            tracked[key] = fields[source_key]
    return Customer(
        state=CustomerState.CUSTOMER,
        code=code,
        first_name=data.value("customer", pk, "firstname"),
        last_name=data.value("customer", pk, "lastname"),
        primary_email=data.value("customer", pk, "email"),
        primary_phone=fields.get("phone") or "",
        city=fields.get("city") or "",
        region=fields.get("state") or "",
        country=data.value("customer", pk, "country"),
        owner=owners.get(owner_id),
        created_at=seen["first"],
        last_seen_at=seen["last"],
        tracked_data=tracked,
    )


def _load_chinook(data: ChinookData, progress: Progress) -> dict:
    progress("Saving the Chinook support reps, companies and customers")
    owner_counts, owners = _load_chinook_owners(data)
    activity = _chinook_activity(data)
    rows = [
        _chinook_customer(data, pk, owners, activity)
        for pk in sorted(data.table("customer"))
    ]
    existing = {
        customer.code: customer
        for customer in Customer.objects.filter(code__startswith=CHINOOK_CODE_PREFIX)
    }
    customer_counts = _upsert(
        Customer, rows, existing=existing, key="code", fields=CHINOOK_FIELDS
    )

    # Each company takes the country and support rep of its (first) customer.
    company_of: dict[str, str] = {}
    companies: dict[str, Company] = {}
    for pk, fields in sorted(data.table("customer").items()):
        name = (fields.get("company") or "").strip()
        if not name:
            continue
        company_of[f"{CHINOOK_CODE_PREFIX}{pk}"] = name
        companies.setdefault(
            name,
            Company(
                name=name,
                country=fields["country"],
                owner=owners.get(fields.get("support_rep")),
            ),
        )
    existing_companies = {
        company.name: company
        for company in Company.objects.filter(name__in=companies.keys()).order_by("-id")
    }
    company_counts = _upsert(
        Company,
        list(companies.values()),
        existing=existing_companies,
        key="name",
        fields=["country", "owner"],
    )
    links_created = _link_companies(company_of)
    return {
        "chinook_owners": owner_counts,
        "chinook_customers": customer_counts,
        "chinook_companies": company_counts,
        "company_links_created": links_created,
    }


def _link_companies(company_of: dict[str, str]) -> int:
    """Add the missing customer-company links and keep links added by hand."""
    customer_ids = dict(
        Customer.objects.filter(code__in=company_of).values_list("code", "id")
    )
    company_ids = dict(
        Company.objects.filter(name__in=company_of.values())
        .order_by("-id")
        .values_list("name", "id")
    )
    Link = Customer.companies.through
    present = set(
        Link.objects.filter(customer_id__in=customer_ids.values()).values_list(
            "customer_id", "company_id"
        )
    )
    missing = {
        (customer_ids[code], company_ids[name]) for code, name in company_of.items()
    } - present
    Link.objects.bulk_create(
        [Link(customer_id=c, company_id=k) for c, k in sorted(missing)],
        batch_size=BATCH_SIZE,
    )
    return len(missing)


# Entry point ----------------------------------------------------------------


@dataclass
class DemoLoadResult:
    retail_customers: UpsertCounts
    retail_visitors: UpsertCounts
    chinook_owners: UpsertCounts
    chinook_customers: UpsertCounts
    chinook_companies: UpsertCounts
    company_links_created: int
    seconds: float

    @property
    def changed(self) -> bool:
        counts = [
            self.retail_customers,
            self.retail_visitors,
            self.chinook_owners,
            self.chinook_customers,
            self.chinook_companies,
        ]
        return self.company_links_created > 0 or any(
            c.created or c.updated for c in counts
        )


def load_demo_data(
    *,
    retail_path: Path = RETAIL_PATH,
    chinook_path: Path = CHINOOK_PATH,
    progress: Progress = _no_progress,
) -> DemoLoadResult:
    """Upsert the Online Retail and Chinook contacts. A second run with the
    same files writes nothing.

    Both files are parsed before the first write and all writes share one
    transaction, so a `DemoDataError` leaves the database as it was.
    """
    started = time.monotonic()
    orders = list(iter_retail_orders(retail_path, progress=progress))
    chinook = read_chinook(chinook_path)
    # Resolve every Chinook reference before writing anything.
    list(iter_chinook_invoices(data=chinook))

    with transaction.atomic():
        retail = _load_retail(orders, progress)
        chinook_counts = _load_chinook(chinook, progress)
    return DemoLoadResult(
        **retail, **chinook_counts, seconds=time.monotonic() - started
    )


def demo_counts() -> dict[str, int]:
    """Count what the demo loader writes, for the summary and the checks."""
    retail = Customer.objects.filter(
        state=CustomerState.CUSTOMER, code__startswith=RETAIL_CODE_PREFIX
    )
    chinook = Customer.objects.filter(
        state=CustomerState.CUSTOMER, code__startswith=CHINOOK_CODE_PREFIX
    )
    return {
        "retail_customers": retail.count(),
        "retail_customers_with_country": retail.exclude(country="").count(),
        "retail_visitors": Customer.objects.filter(
            state=CustomerState.VISITOR, visitor_id__startswith=RETAIL_VISITOR_PREFIX
        ).count(),
        "chinook_customers": chinook.count(),
        "chinook_customers_with_owner": chinook.filter(owner__isnull=False).count(),
        "chinook_companies": Company.objects.filter(
            customers__code__startswith=CHINOOK_CODE_PREFIX
        )
        .distinct()
        .count(),
        "chinook_customers_with_company": chinook.filter(companies__isnull=False)
        .distinct()
        .count(),
    }


EXPECTED_DEMO_COUNTS = {
    "retail_customers": EXPECTED_RETAIL_CUSTOMERS,
    "retail_customers_with_country": EXPECTED_RETAIL_CUSTOMERS,
    "retail_visitors": EXPECTED_RETAIL_VISITORS,
    "chinook_customers": EXPECTED_CHINOOK_CUSTOMERS,
    "chinook_customers_with_owner": EXPECTED_CHINOOK_CUSTOMERS,
    "chinook_companies": EXPECTED_CHINOOK_COMPANIES,
    "chinook_customers_with_company": EXPECTED_CHINOOK_COMPANIES,
}
