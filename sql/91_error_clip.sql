--
-- 91_error_clip (1.7, issue 18 item 13): an error message quotes a value
-- cut after 40 characters (docs/design.md, "Errors"), in a UTF-8 database
-- with multibyte text: 40 characters, never 40 bytes, and never part of a
-- character.  (Up to 1.6 the cut was at 40 bytes: 20 two-byte characters,
-- 13 three-byte ones, 10 emoji.)
--
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_error_clip;
RESET client_min_messages;
CREATE DATABASE dt_error_clip ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c dt_error_clip
CREATE EXTENSION drivetribe;
SELECT drivetribe.register_user(1, 'alice') IS NOT NULL AS appended;
SELECT drivetribe.create_tribe(10, 1, 'Supercars') IS NOT NULL AS appended;
SELECT drivetribe.post_article(100, 1, 10, 'Hello') IS NOT NULL AS appended;

-- pg_temp.quoted(call): the call's SQLSTATE, and the value its message
-- quotes: characters (without the "..."), bytes, and whether the cut fell
-- on a character boundary (convert_to/convert_from round trip)
CREATE FUNCTION pg_temp.quoted(call text)
RETURNS TABLE (state text, chars int, bytes int, whole_chars boolean, shown text, msg text)
LANGUAGE plpgsql AS $$
DECLARE
  v text;
BEGIN
  EXECUTE call;
  state := 'ok';
  RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
  state := SQLSTATE;
  msg := substring(SQLERRM from '"(.*)"');
  v := msg;
  v := regexp_replace(v, '\.\.\.$', '');
  chars := char_length(v);
  bytes := octet_length(v);
  whole_chars := convert_from(convert_to(v, 'UTF8'), 'UTF8') = v;
  shown := v;
  RETURN NEXT;
END $$;

-- too long: two-byte, three-byte and four-byte characters
SELECT c.call, q.state, q.chars, q.bytes, q.whole_chars, q.shown FROM unnest(ARRAY[
  $$SELECT drivetribe.register_user(2, repeat('é', 65))$$,
  $$SELECT drivetribe.create_tribe(11, 1, repeat('日本', 51))$$,
  $$SELECT drivetribe.edit_article(100, repeat('🚗', 301))$$,
  $$SELECT drivetribe.post_comment(1000, 100, 1, 'x' || repeat('ß€🚗', 3334))$$]) AS c(call),
  LATERAL pg_temp.quoted(c.call) q;
-- blank (ideographic spaces, three bytes each): 40 characters are shown
-- whole, 41 are cut to 40 and "..."
SELECT c.call, q.chars, q.bytes, q.whole_chars, right(q.msg, 3) = '...' AS cut FROM unnest(ARRAY[
  $$SELECT drivetribe.register_user(3, repeat(U&'\3000', 40))$$,
  $$SELECT drivetribe.register_user(3, repeat(U&'\3000', 41))$$]) AS c(call),
  LATERAL pg_temp.quoted(c.call) q;
-- the whole messages
\set VERBOSITY terse
SELECT drivetribe.register_user(2, repeat('é', 65));
SELECT drivetribe.create_tribe(11, 1, repeat('日本', 51));
SELECT drivetribe.edit_article(100, 'a' || repeat('🚗', 300));
\set VERBOSITY default
SELECT * FROM drivetribe.verify();

\c :orig_db
SET client_min_messages = warning;
DROP DATABASE dt_error_clip;
RESET client_min_messages;
