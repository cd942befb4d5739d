"""A module of the SAM example's layer (SharedLayer, ContentUri shared/): on Lambda it is under /opt/python."""


def describe():
    return "shared layer at " + __file__
