-- The deployment's identity: one row, made once per database. Every process
-- that uses this database reads it, so replicas of one deployment agree on
-- the names they use in a shared Redis, and another deployment (another
-- database) on the same Redis gets names of its own.
CREATE TABLE deployment (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id         uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deployment (id) VALUES (gen_random_uuid());
