"""Starts AWS's runtime client as Lambda's Python runtime does (its launcher, /var/runtime/bootstrap.py, then
`awslambdaric`'s __main__ with the handler as its argument): the function's folder first on sys.path with its .pth
files processed, the layers' folders right after it, PYTHONPATH (/var/runtime) and the standard library after them."""
import os
import runpy
import site
import sys

task_root = os.environ["LAMBDA_TASK_ROOT"]
version = "python%d.%d" % sys.version_info[:2]
sys.path[0] = task_root  # was this launcher's folder
sys.path[1:1] = ["/opt/python/lib/%s/site-packages" % version, "/opt/python"]
site.addsitedir(task_root)
del site, version, task_root
runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
