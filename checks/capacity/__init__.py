"""The DB capacity probe: is it safe to raise the pool max, and to what?

`python -m checks.capacity`; gather statistics (`stats`), decide (`decide`),
print (`render`). Exit 0 safe, 1 not safe, 2 could not check.
"""
