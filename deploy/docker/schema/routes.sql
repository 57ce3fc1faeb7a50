-- Demo routing schema of the Docker image (the same as `patina dev`'s): what an edge proxy
-- needs to route a request. Mount your own directory of .sql files over /etc/patina/schema.
CREATE TABLE apps (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE backends (
  addr TEXT NOT NULL PRIMARY KEY,
  app TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  healthy INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE routes (
  host TEXT NOT NULL PRIMARY KEY,
  app TEXT NOT NULL DEFAULT '',
  backend_addr TEXT NOT NULL DEFAULT '',
  weight INTEGER NOT NULL DEFAULT 100,
  updated_at INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX routes_app ON routes (app);
