from django.apps import AppConfig
from django.db.backends.signals import connection_created


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments"

    def ready(self):
        # Registers the read-only admin list of segment changes.
        from segments import audit_admin  # noqa: F401
        from segments.sql import register_sqlite_functions

        # The compiler's SQL calls these functions on SQLite; registering them
        # on every new connection keeps each connection able to run a count.
        connection_created.connect(
            register_sqlite_functions, dispatch_uid="erxseg_sqlite_functions"
        )
