"""A small Flask app for superwatch's examples and reload benchmark."""
from flask import Flask, jsonify, render_template

import helpers

app = Flask(__name__)


@app.route("/")
def index():
    return render_template("index.html", greeting=helpers.greeting())


@app.route("/api/greeting")
def greeting():
    return jsonify(greeting=helpers.greeting())


if __name__ == "__main__":
    app.run(debug=True)
