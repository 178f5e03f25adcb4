-- Half-stats, step 1 of 2 (seed section 5): per-half statistics and incidents,
-- and the data_completeness flags the validator job reads and sets.
--
-- ADD COLUMN with a constant default only writes the catalog (PostgreSQL 11+):
-- no table rewrite, existing rows read the default. Its ACCESS EXCLUSIVE lock is
-- held for milliseconds; WAITING for it is the risk (every writer queues behind
-- the waiting ALTER), so the runner sets lock_timeout and retries a few times.
-- One statement: all four columns or none. IF NOT EXISTS: a database where the
-- seed's own script ran already has some of them.
-- depends: 0001_initial
ALTER TABLE ts_matches
    ADD COLUMN IF NOT EXISTS statistics_second_half jsonb,
    ADD COLUMN IF NOT EXISTS incidents_first_half jsonb,
    ADD COLUMN IF NOT EXISTS incidents_second_half jsonb,
    ADD COLUMN IF NOT EXISTS data_completeness jsonb
        DEFAULT '{"first_half": false, "second_half": false, "full_time": false}';
