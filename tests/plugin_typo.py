"""A plugin with a misspelled hook name, for start-up failure tests."""

from rosetta_core import hookimpl


@hookimpl
def rosetta_register_engine(register):  # the hook is rosetta_register_engines
    register("typo", object())
