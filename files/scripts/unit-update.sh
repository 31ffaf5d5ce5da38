# The unit file itself is unchanged (a change of it replaces the unit): make sure the
# unit runs and report where.
start_unit
