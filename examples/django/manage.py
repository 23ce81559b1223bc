#!/usr/bin/env python3
"""A Django project in one file: settings and URLs here, the view in views.py, its template in templates/.

Run it as you would without superwatch: `python3 manage.py runserver`, or under superwatch with `superwatch up`
(superwatch.yaml beside this file). See README.md.
"""
import os
import sys

from django.conf import settings

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

settings.configure(
    DEBUG=True,
    SECRET_KEY="superwatch-example-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]"],
    ROOT_URLCONF="urls",
    INSTALLED_APPS=[],
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [os.path.join(BASE_DIR, "templates")]}],
)

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
