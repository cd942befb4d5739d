WHERE = "vendored"
