"""Edit the greeting and watch the running app pick it up."""


def greeting():
    return "Hello from superwatch"
