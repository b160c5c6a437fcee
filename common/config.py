"""Load a service's config.yaml the way `nameko run --config` does, so that
`${VAR:default}` placeholders resolve identically in tests and tools."""
import os

import yaml
from nameko.cli.main import setup_yaml_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_parser_ready = False


def load_config(path):
    global _parser_ready
    if not _parser_ready:
        setup_yaml_parser()
        _parser_ready = True
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def service_config(service):
    return load_config(os.path.join(ROOT, "services", service, "config.yaml"))
