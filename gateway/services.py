"""Access to the services from a view: `rpc().auth.login(...)`."""
from flask import current_app


def rpc():
    return current_app.extensions["rpc"].proxy()
