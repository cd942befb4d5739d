"""Test fixture: logs debug, info, warning and error records through the root logger and through a named logger
("orders"), prints a line, and returns {"logged": true}. With {"exception": true} in the event it also logs an
exception (logger.exception) through "orders". Which records appear, and how, is up to AWS_LAMBDA_LOG_FORMAT and
AWS_LAMBDA_LOG_LEVEL as on Lambda: with no level the root logger stays at WARNING (warning and error records only).
"""
import logging

root = logging.getLogger()
orders = logging.getLogger("orders")


def handler(event, context):
    for logger, name in ((root, "root"), (orders, "orders")):
        logger.debug("%s debug", name)
        logger.info("%s info", name)
        logger.warning("%s warning", name)
        logger.error("%s error", name)
    if isinstance(event, dict) and event.get("exception"):
        try:
            raise ValueError("order rejected")
        except ValueError:
            orders.exception("order failed")
    print("printed line")
    return {"logged": True}
