"""Powertools' Logger with debug sampling: it draws from Python's `random` during Init to decide, and every
restored copy then makes the same sampling decisions, invocation after invocation."""
import logging

from aws_lambda_powertools import Logger

logger = Logger(service="orders", sampling_rate=0.5)  # draws random.random() during Init


@logger.inject_lambda_context
def lambda_handler(event, context):
    logger.refresh_sample_rate_calculation()  # Powertools' way to sample per invocation
    logger.debug("sampled: this invocation logs at DEBUG")
    return {"debug_sampled": logger.log_level == logging.DEBUG}
