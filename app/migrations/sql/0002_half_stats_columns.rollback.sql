-- Catalog-only as well: the values stay on disk until rows are rewritten.
ALTER TABLE ts_matches
    DROP COLUMN IF EXISTS data_completeness,
    DROP COLUMN IF EXISTS incidents_second_half,
    DROP COLUMN IF EXISTS incidents_first_half,
    DROP COLUMN IF EXISTS statistics_second_half;
