// Value inputs, one per value shape of the operator registry
// (segments/operators.py ValueShape).

import { h, select } from "./dom.js";

export function shapeOf(operator, type) {
  if (!operator) return "none";
  if (operator.name === "between" && (type === "date" || type === "datetime")) return "date_range";
  return operator.shape;
}

export function defaultValue(shape) {
  switch (shape) {
    case "none":
      return undefined;
    case "text_list":
      return [];
    case "number":
      return null;
    case "number_range":
      return [null, null];
    case "date_range":
      return ["", ""];
    case "relative":
      return { amount: 30, unit: "days" };
    case "anniversary":
      return { amount: 7, unit: "days" };
    default:
      return "";
  }
}

function numberOrNull(text) {
  if (text.trim() === "") return null;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

let listCount = 0;

function textInput({ value, options, disabled, key, onChange, label }) {
  if (options.length) {
    return select({
      options: [["", "Choose…"], ...options.map((option) => [option, option])],
      value,
      label,
      disabled,
      key,
      onChange,
    });
  }
  const input = h("input", { type: "text", value: value ?? "", disabled, "data-key": key, "aria-label": label });
  input.addEventListener("input", () => onChange(input.value));
  return input;
}

function listInput({ value, options, disabled, key, onChange, label }) {
  const chosen = new Set(Array.isArray(value) ? value : []);
  if (options.length && options.length <= 60) {
    const box = h("fieldset", { className: "eb-choices", "aria-label": label });
    for (const option of options) {
      const checkbox = h("input", { type: "checkbox", value: option, checked: chosen.has(option), disabled, "data-key": `${key}:${option}` });
      checkbox.addEventListener("change", () => {
        if (checkbox.checked) chosen.add(option);
        else chosen.delete(option);
        onChange(options.filter((item) => chosen.has(item)));
      });
      box.append(h("label", {}, checkbox, ` ${option}`));
    }
    return box;
  }
  listCount += 1;
  const listId = `eb-values-${listCount}`;
  const input = h("input", {
    type: "text",
    value: [...chosen].join(", "),
    disabled,
    list: options.length ? listId : undefined,
    placeholder: "Values separated by commas",
    "data-key": key,
    "aria-label": label,
  });
  input.addEventListener("input", () =>
    onChange(input.value.split(",").map((item) => item.trim()).filter(Boolean)),
  );
  const datalist = h("datalist", { id: listId }, options.map((option) => h("option", { value: option })));
  return h("span", {}, input, options.length ? datalist : null);
}

function numberField({ value, disabled, key, onChange, label }) {
  const input = h("input", { type: "number", step: "any", value: value ?? "", disabled, "data-key": key, "aria-label": label, className: "eb-number" });
  input.addEventListener("input", () => onChange(numberOrNull(input.value)));
  return input;
}

function dateField({ value, disabled, key, onChange, label }) {
  const input = h("input", { type: "date", value: value ?? "", disabled, "data-key": key, "aria-label": label });
  input.addEventListener("input", () => onChange(input.value));
  input.addEventListener("change", () => onChange(input.value));
  return input;
}

function pair(make, { value, disabled, key, onChange, label }) {
  const current = Array.isArray(value) ? [...value] : [null, null];
  const update = (index) => (item) => {
    current[index] = item;
    onChange([...current]);
  };
  return h(
    "span",
    { className: "eb-range" },
    make({ value: current[0], disabled, key: `${key}:0`, onChange: update(0), label: `${label}, from` }),
    h("span", {}, " and "),
    make({ value: current[1], disabled, key: `${key}:1`, onChange: update(1), label: `${label}, to` }),
  );
}

function relativeField({ value, disabled, key, onChange, units, label }) {
  const current = { amount: 30, unit: "days", ...(value || {}) };
  const amount = h("input", { type: "number", min: "0", step: "1", value: current.amount ?? "", disabled, "data-key": `${key}:amount`, "aria-label": `${label}, amount`, className: "eb-number" });
  amount.addEventListener("input", () => {
    current.amount = numberOrNull(amount.value);
    onChange({ ...current });
  });
  const unit = select({
    options: units.map((item) => [item, item]),
    value: current.unit,
    disabled,
    key: `${key}:unit`,
    label: `${label}, unit`,
    onChange: (chosen) => {
      current.unit = chosen;
      onChange({ ...current });
    },
  });
  return h("span", { className: "eb-relative" }, amount, unit);
}

export function valueEditor({ shape, value, options = [], disabled, key, onChange, units, label = "Value" }) {
  const args = { value, options, disabled, key, onChange, label };
  switch (shape) {
    case "none":
      return null;
    case "text":
      return textInput(args);
    case "regex": {
      const input = h("input", { type: "text", value: value ?? "", disabled, "data-key": key, className: "eb-regex", "aria-label": label, placeholder: "^C-[0-9]{4}$" });
      input.addEventListener("input", () => onChange(input.value));
      return input;
    }
    case "text_list":
      return listInput(args);
    case "number":
      return numberField(args);
    case "number_range":
      return pair(numberField, args);
    case "date":
      return dateField(args);
    case "date_range":
      return pair(dateField, args);
    case "relative":
      return relativeField({ ...args, units });
    case "anniversary":
      return relativeField({ ...args, units: ["days"] });
    default:
      return textInput(args);
  }
}
