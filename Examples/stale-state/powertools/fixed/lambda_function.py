"""Python's `random` is reseeded after every restore, so each copy samples on its own."""
import logging
import os
import random

from aws_lambda_powertools import Logger
from snapshot_restore_py import register_after_restore

logger = Logger(service="orders", sampling_rate=0.5)


@register_after_restore
def reseed():
    random.seed(os.urandom(32))
    logger.refresh_sample_rate_calculation()  # and decide again, from the copy's own state


@logger.inject_lambda_context
def lambda_handler(event, context):
    logger.refresh_sample_rate_calculation()
    logger.debug("sampled: this invocation logs at DEBUG")
    return {"debug_sampled": logger.log_level == logging.DEBUG}
