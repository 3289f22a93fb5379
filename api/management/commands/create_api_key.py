from django.core.management.base import BaseCommand

from api.keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a trusted backend and print it once (it is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. 'billing backend'.")

    def handle(self, *args, name: str, **options):
        issued = api_key_create(name=name)
        self.stdout.write(issued.raw_key)
