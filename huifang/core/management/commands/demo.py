"""``huifang demo``: load demo data, idempotently.

Convention for demo builders: any installed ``huifang.*`` app may have a ``demo.py`` module that
defines

* ``demo_load(stdout, **options) -> object``: creates whatever of its demo data is missing,
  writes one or two lines to ``stdout`` (and the words "already present" when it had nothing
  to do), and must be safe to run any number of times (look rows up by business key first);
* ``DEMO_ORDER: int`` (default 100): builders run in ascending order, then by app name. The
  foundation (``huifang.org.demo``: org units and users) is 10; domain data that needs policies
  should use 20–50, data derived from it (tasks, complaints, inspections, snapshots) 50–90.

``options`` are the command's options: ``policies`` (``--policies N``, how many demo policies a
records builder should create; default 200) and ``verbosity``. Unknown options must be ignored,
so new options never break old builders. Each builder runs in its own transaction.
``huifang demo --list`` shows the builders found and their order.
"""

from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

DEFAULT_ORDER = 100


def demo_builders() -> list[tuple[int, str]]:
    """``[(order, "app.demo.demo_load"), …]`` for every installed huifang app with a demo module."""
    found = []
    for config in apps.get_app_configs():
        if not config.name.startswith("huifang."):
            continue
        module_name = f"{config.name}.demo"
        if find_spec(module_name) is None:
            continue
        module = import_module(module_name)  # an error inside a demo module is not hidden
        if callable(getattr(module, "demo_load", None)):
            found.append((int(getattr(module, "DEMO_ORDER", DEFAULT_ORDER)), f"{module_name}.demo_load"))
    return sorted(found)


class Command(BaseCommand):
    help = "Load demo data (org tree, one user per role, and every app's demo data); safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--policies", type=int, default=200, help="number of demo policies for the records demo"
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_only", help="list the demo builders and exit"
        )

    def handle(self, *args, policies, list_only, **options):
        builders = demo_builders()
        if list_only:
            for order, dotted in builders:
                self.stdout.write(f"{order:4d}  {dotted}")
            return
        for _order, dotted in builders:
            module_name, func_name = dotted.rsplit(".", 1)
            demo_load = getattr(import_module(module_name), func_name)
            with transaction.atomic():
                demo_load(self.stdout, policies=policies, verbosity=options.get("verbosity", 1))
        self.stdout.write(self.style.SUCCESS("demo data ready"))
