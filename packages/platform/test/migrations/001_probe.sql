-- Up Migration
create table probe (id text primary key, at timestamptz not null default now());

-- Down Migration
drop table probe;
