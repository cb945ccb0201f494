-- Up Migration
-- Usernames may be email addresses (the first admin is seeded from HELPLINE_ADMIN_EMAIL).
ALTER TABLE users DROP CONSTRAINT users_username_check;
ALTER TABLE users ADD CONSTRAINT users_username_check CHECK (username ~ '^[a-z0-9._@+-]{2,64}$');
