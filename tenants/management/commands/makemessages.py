from django.core.management.commands import makemessages


class Command(makemessages.Command):
    # Guessed ("fuzzy") translations of new strings are worse than none: the catalogue is
    # checked to have every string translated on purpose (scripts/check_translations.py).
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]
