-- Matches the jobs update and the predictions the API serves.
-- The half-stats columns are NOT here: they come in a migration of their own,
-- and everything must work without them.

CREATE TABLE ts_matches (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{6,32}$'),
    competition text NOT NULL,
    home_team text NOT NULL,
    away_team text NOT NULL,
    kickoff_at timestamptz NOT NULL,
    second_half_started_at timestamptz,
    status text NOT NULL DEFAULT 'scheduled' CHECK (status IN (
        'scheduled', 'first_half', 'half_time', 'second_half',
        'finished', 'postponed', 'cancelled')),
    minute smallint CHECK (minute BETWEEN 0 AND 130),
    home_score smallint NOT NULL DEFAULT 0 CHECK (home_score >= 0),
    away_score smallint NOT NULL DEFAULT 0 CHECK (away_score >= 0),
    statistics_first_half jsonb,
    incidents jsonb NOT NULL DEFAULT '[]',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The date filter of the predictions endpoint and the jobs' scans by status.
CREATE INDEX idx_ts_matches_kickoff_at ON ts_matches (kickoff_at);
CREATE INDEX idx_ts_matches_status_kickoff_at ON ts_matches (status, kickoff_at);
-- Live matches are few among many: the match-minute tick and the watchdog read only these.
CREATE INDEX idx_ts_matches_live ON ts_matches (updated_at)
    WHERE status IN ('first_half', 'half_time', 'second_half');

CREATE TABLE predictions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    match_id text NOT NULL REFERENCES ts_matches (id) ON DELETE CASCADE,
    user_id bigint NOT NULL CHECK (user_id > 0),
    market text NOT NULL CHECK (market IN ('1x2', 'over_2_5', 'btts')),
    pick text NOT NULL,
    confidence smallint NOT NULL CHECK (confidence BETWEEN 0 AND 100),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'won', 'lost', 'void')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The endpoint lists newest first, optionally by user or by status, keyset-paginated.
CREATE INDEX idx_predictions_created ON predictions (created_at DESC, id DESC);
CREATE INDEX idx_predictions_user_created ON predictions (user_id, created_at DESC, id DESC);
CREATE INDEX idx_predictions_status_created ON predictions (status, created_at DESC, id DESC);
CREATE INDEX idx_predictions_match_id ON predictions (match_id);
