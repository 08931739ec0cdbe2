-- Databases of the Compose stack: one per service that owns one (users_es, users_read,
-- orders_es, orders_read and saga). Each service creates its own tables at start-up
-- (migrations).
--
-- The postgres image runs this once, as POSTGRES_USER (cqrs), when its data directory is
-- empty: after `docker compose down` the next `up` starts from scratch and runs it again.
-- To add a database to a stack that keeps its data, run the statement by hand:
--   docker compose exec postgres psql -U cqrs -c 'CREATE DATABASE … OWNER cqrs'

CREATE DATABASE users_es OWNER cqrs;
CREATE DATABASE users_read OWNER cqrs;
CREATE DATABASE orders_es OWNER cqrs;
CREATE DATABASE orders_read OWNER cqrs;
CREATE DATABASE saga OWNER cqrs;
