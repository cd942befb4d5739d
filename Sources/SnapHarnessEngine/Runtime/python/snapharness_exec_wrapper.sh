# Lambda's runtime bootstrap when AWS_LAMBDA_EXEC_WRAPPER is set (Python's managed runtime, "Modifying the runtime
# environment"): the wrapper is started with the interpreter and the runtime's own arguments; a wrapper that is
# missing or not executable ends the runtime as Lambda's bootstrap ends it. Run as `/bin/sh THIS python args...` by the
# built-in runtime's start (FunctionConfig.RuntimeClient.command) and by the Runtime API server for awslambdaric.
wrapper="$AWS_LAMBDA_EXEC_WRAPPER"
if [ ! -f "$wrapper" ]; then
  echo "$wrapper: does not exist"
  exit 127
fi
if [ ! -x "$wrapper" ]; then
  echo "$wrapper: is not an executable"
  exit 126
fi
exec "$wrapper" "$@"
