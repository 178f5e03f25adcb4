DROP TABLE predictions;
DROP TABLE ts_matches;
