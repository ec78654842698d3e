"""The baseline: a bare Flask JSON route, served by the same gunicorn command as authserver."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(ok=True)
