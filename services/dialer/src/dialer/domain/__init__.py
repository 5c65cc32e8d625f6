"""Pure domain model of the dialer: no I/O, unit tested. Import from the modules
(``dialer.domain.pacing``, ``dialer.domain.dialing`` ...) so that using one does not
load the others (the pacing engine pulls in numpy)."""
