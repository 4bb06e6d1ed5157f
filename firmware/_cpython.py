# The `micropython` module's code-emitter decorators for CPython, where the host runs the
# firmware's detector as its reference (myotwitch.detect.reference): there they leave a function
# as it is. Never deployed (the build skips files that start with "_").


class micropython:
    @staticmethod
    def native(f):
        return f
