from django.http import HttpResponse
from django.shortcuts import render

GREETING = "Hello from Django"


def index(request):
    return render(request, "index.html", {"greeting": GREETING})


def greeting(request):
    return HttpResponse(GREETING)
