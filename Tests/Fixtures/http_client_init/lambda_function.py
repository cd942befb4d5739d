"""A bare http.client keep-alive connection made during Init: unlike urllib3's pool, it does not notice that the
connection died in the restore, and the next request fails."""
import http.client
import os

API = http.client.HTTPConnection("127.0.0.1", int(os.environ["API_PORT"]), timeout=5)
API.request("GET", "/")
API.getresponse().read()


def lambda_handler(event, context):
    API.request("GET", "/")
    return {"status": API.getresponse().status}
