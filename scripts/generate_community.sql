-- drivetribe: load a generated community through the public write API only.
--
--   psql -X -v users=5000 -v tribes=300 -v articles=30000 -v events=300000 \
--        -v seed=42 -v batch=10000 -f scripts/generate_community.sql DBNAME
--
-- Every variable is optional (the defaults are the values above).  The
-- database needs `CREATE EXTENSION drivetribe` and should hold no community
-- yet: ids are fixed (users 1..users, tribes 1..tribes, articles
-- 1..articles, comments numbered by their engagement event), so a second
-- load into the same database fails with unique_violation.
--
-- Deterministic: every choice is a hash of (seed, stream, index), so the same
-- variables give the same calls in the same order.  Popularity is skewed:
-- low article ids are hot, low user ids write the most and have the most
-- followers, low tribe ids are the biggest.  Phases, each in batches of
-- `batch` calls, one transaction per batch, one progress line per batch:
--   users     register_user
--   tribes    create_tribe (owner among the first users)
--   articles  post_article
--   engagement  view_article 55%, bump 22%, post_comment 12%, join_tribe 6%,
--             follow_user 5%
--   moderation  rename_user, edit_article, unbump, leave_tribe, unfollow_user,
--             delete_comment, delete_article (a few percent each; the hottest
--             articles are never deleted)
-- Nothing but pg_temp helper functions is created; they vanish with the
-- session.

\set ON_ERROR_STOP on
\set QUIET on
\if :{?users}
\else
  \set users 5000
\endif
\if :{?tribes}
\else
  \set tribes 300
\endif
\if :{?articles}
\else
  \set articles 30000
\endif
\if :{?events}
\else
  \set events 300000
\endif
\if :{?seed}
\else
  \set seed 42
\endif
\if :{?batch}
\else
  \set batch 10000
\endif

\pset tuples_only on
\pset format unaligned
\pset footer off
\timing off
SET client_min_messages = warning;

SELECT CASE WHEN :users >= 2 AND :tribes >= 1 AND :articles >= 1 AND :events >= 0
             AND :batch >= 1 AND :users >= :tribes
            THEN 'true' ELSE 'false' END AS dt_sizes_ok \gset
\if :dt_sizes_ok
\else
  \echo 'generate_community: need users >= 2, users >= tribes >= 1, articles >= 1, events >= 0, batch >= 1'
  SELECT 1/0 AS bad_sizes;
\endif

SELECT extract(epoch FROM clock_timestamp()) AS dt_t0,
       coalesce((SELECT max(seq) FROM drivetribe.events), 0) AS dt_seq0 \gset

-- ---------------------------------------------------------------- helpers

-- uniform in [0, 1) from (index, stream, seed)
CREATE FUNCTION pg_temp.rnd(i bigint, stream int, seed int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(i, seed::bigint * 1000 + stream) >> 11) & 9007199254740991)::float8
          / 9007199254740992.0 $$;

-- an id in 1..n, skewed towards 1 when skew > 1 (u^skew)
CREATE FUNCTION pg_temp.pick(n bigint, u float8, skew float8) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT least(n, 1 + floor(n * power(u, skew))::bigint) $$;

-- element k (any integer >= 0) of a text array, cyclically
CREATE FUNCTION pg_temp.el(a text[], k bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT a[1 + (k % cardinality(a))::int] $$;

CREATE FUNCTION pg_temp.firsts() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{Jeremy,Richard,James,Chris,Matt,Sabine,Vicki,Tiff,Jodie,Rory,Paddy,Freddie,Mike,Quentin,
  Sue,Ant,Henry,Doug,Ken,Ayrton,Niki,Michele,Walter,Colin,Petter,Carlos,Juha,Lewis,Jenson,
  Emma,Lucia,Kimi,Mika,Giulia,Ines,Tomas,Yuki,Amara,Noor,Søren,Zoë,André,Björn,Chloé}'::text[] $$;
CREATE FUNCTION pg_temp.lasts() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{Clarkson,Hammond,May,Harris,LeBlanc,Schmitz,Butler,Needell,Kidd,Reid,McGuinness,Flintoff,
  Brewer,Willson,Baxter,Anstead,Catchpole,Bird,Block,Senna,Lauda,Mouton,Röhrl,McRae,Solberg,
  Sainz,Kankkunen,Moss,Button,Vettel,Alonso,Häkkinen,Räikkönen,Piquet,Fittipaldi,Surtees}'::text[] $$;
CREATE FUNCTION pg_temp.makes() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{Porsche,BMW,Ford,Ferrari,"Land Rover",Mazda,Toyota,"Alfa Romeo",Lotus,Volkswagen,Honda,
  Subaru,Mercedes-Benz,Jaguar,"Aston Martin",McLaren,Nissan,Audi,Lancia,Citroën,Tesla,Volvo,
  Mini,Fiat}'::text[] $$;
CREATE FUNCTION pg_temp.themes() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"Owners Club","Track Days",Restorations,"Road Trips",Classics,Modified,Electric,Rally,
  "Daily Drivers",Photography,Tuning,Spotters,Racing}'::text[] $$;
CREATE FUNCTION pg_temp.models() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"911 GT3","M3 CSL","Mustang Mach 1",F40,"Defender 110",MX-5,"GR Yaris","Giulia Quadrifoglio",
  Elise,"Golf GTI","Civic Type R","Impreza WRX",E-Type,DB5,"McLaren F1","Skyline GT-R",
  "Quattro S1","Delta Integrale",2CV,"Model S",240,Cooper,Panda,"Escort Cosworth","190E Evo II",
  "NSX","Stratos","Testarossa","Countach","Sierra RS500","Corolla AE86","Carrera GT",
  "Range Rover Classic","Veyron","Miura","Exige","Supra","RX-7","Zonda","Ioniq 5 N"}'::text[] $$;
CREATE FUNCTION pg_temp.places() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"the Alps","the Scottish Highlands","the Nürburgring","Route 66","the Stelvio Pass",Wales,
  Iceland,"the Atacama",Goodwood,Spa-Francorchamps,"the Transfăgărășan","Mulholland Drive",
  "the Col de Turini","the Isle of Man","Tokyo at night","the Outback","a wet Monday commute"}'::text[] $$;
CREATE FUNCTION pg_temp.adjs() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{brilliant,terrifying,underrated,overrated,perfect,flawed,glorious,bonkers,sensible,
  hilarious,beautiful,brutal,honest,forgotten,legendary}'::text[] $$;
CREATE FUNCTION pg_temp.title_templates() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"I drove a {m} across {p} and this is what happened",
  "Why the {m} is the most {a} car of {y}",
  "{m} vs {m2}: which one would you take home?",
  "Buying a used {m}: everything that will go wrong",
  "The {a} truth about owning a {m} for a year",
  "{y} {m} restoration, part {n}",
  "Ten things nobody tells you about the {m}",
  "Is the {m} still {a} in {y}?",
  "We took a {m} and a {m2} to {p}",
  "Cheap thrills: the {a} {m}",
  "Long-term test: {m}, month {n}",
  "Spotted: a {a} {m} in {p}"}'::text[] $$;
CREATE FUNCTION pg_temp.comment_templates() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"Great read. My {m} did exactly the same thing.",
  "Had one of these in {y}. Never again.",
  "Properly {a}. More of this please!",
  "Did you try it on {p}? Totally different car there.",
  "The {m2} is better and you know it.",
  "This is why I love this tribe.",
  "Sold mine last year and I regret it every day 😢",
  "Tyre pressures? Mine understeers like a shopping trolley.",
  "Bumped. The photos alone are worth it.",
  "Respectfully disagree: the {m} is {a}, not great.",
  "Part {n} when?",
  "My dad had a {m}. Brings back memories of {p}."}'::text[] $$;

-- fill {m} {m2} {p} {a} {y} {n} from hashes of k
CREATE FUNCTION pg_temp.fill(t text, k bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(replace(replace(replace(replace(replace(t,
           '{m2}', pg_temp.el(pg_temp.models(), floor(pg_temp.rnd(k, 51, seed) * 1e6)::bigint)),
           '{m}',  pg_temp.el(pg_temp.models(), floor(pg_temp.pick(1000000, pg_temp.rnd(k, 52, seed), 1.5))::bigint)),
           '{p}',  pg_temp.el(pg_temp.places(), floor(pg_temp.rnd(k, 53, seed) * 1e6)::bigint)),
           '{a}',  pg_temp.el(pg_temp.adjs(),   floor(pg_temp.rnd(k, 54, seed) * 1e6)::bigint)),
           '{y}',  (1965 + floor(pg_temp.rnd(k, 55, seed) * 60))::int::text),
           '{n}',  (1 + floor(pg_temp.rnd(k, 56, seed) * 12))::int::text) $$;

CREATE FUNCTION pg_temp.user_name(u bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.el(pg_temp.firsts(), floor(pg_temp.rnd(u, 1, seed) * 1e6)::bigint) || ' ' ||
         pg_temp.el(pg_temp.lasts(),  floor(pg_temp.rnd(u, 2, seed) * 1e6)::bigint) $$;

CREATE FUNCTION pg_temp.tribe_name(t bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.el(pg_temp.makes(), t - 1) || ' ' ||
         pg_temp.el(pg_temp.themes(), (t - 1) / cardinality(pg_temp.makes())) ||
         CASE WHEN t > cardinality(pg_temp.makes()) * cardinality(pg_temp.themes())
              THEN ' #' || (1 + (t - 1) / (cardinality(pg_temp.makes()) * cardinality(pg_temp.themes())))
              ELSE '' END $$;

CREATE FUNCTION pg_temp.title(a bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.fill(pg_temp.el(pg_temp.title_templates(), floor(pg_temp.rnd(a, 40, seed) * 1e6)::bigint),
                      a, seed) $$;

CREATE FUNCTION pg_temp.comment_body(c bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.fill(pg_temp.el(pg_temp.comment_templates(), floor(pg_temp.rnd(c, 41, seed) * 1e6)::bigint),
                      c + 7777777, seed) $$;

-- the engagement event number i: kind 1 view, 2 bump, 3 comment, 4 join,
-- 5 follow; article a, acting user u (NULL viewer = anonymous view), tribe t,
-- followee f
CREATE FUNCTION pg_temp.engagement(lo bigint, hi bigint, seed int, nu bigint, nt bigint, na bigint)
RETURNS TABLE (i bigint, kind int, a bigint, u bigint, t bigint, f bigint)
LANGUAGE sql IMMUTABLE AS $$
  SELECT g.i, k.kind,
         pg_temp.pick(na, pg_temp.rnd(g.i, 11, seed), CASE WHEN k.kind = 1 THEN 2.5 ELSE 2.0 END),
         CASE WHEN k.kind = 1 AND pg_temp.rnd(g.i, 12, seed) < 0.3 THEN NULL
              ELSE pg_temp.pick(nu, pg_temp.rnd(g.i, 13, seed), CASE WHEN k.kind >= 4 THEN 1.0 ELSE 1.3 END) END,
         pg_temp.pick(nt, pg_temp.rnd(g.i, 14, seed), 1.5),
         pg_temp.pick(nu, pg_temp.rnd(g.i, 15, seed), 2.5)
  FROM generate_series(lo, hi) AS g(i),
       LATERAL (SELECT CASE WHEN r < 0.55 THEN 1 WHEN r < 0.77 THEN 2 WHEN r < 0.89 THEN 3
                            WHEN r < 0.95 THEN 4 ELSE 5 END AS kind
                FROM (SELECT pg_temp.rnd(g.i, 10, seed) AS r) x) k $$;

-- a follow of oneself is invalid: move the followee to the next user
CREATE FUNCTION pg_temp.followee(u bigint, f bigint, nu bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN u = f THEN u % nu + 1 ELSE f END $$;

-- ---------------------------------------------------------------- load

\echo 'generating community: ':users' users, ':tribes' tribes, ':articles' articles, ':events' engagement events (seed ':seed', batches of ':batch')'

-- users
SELECT format($q$SELECT 'loading users: %s/%s' FROM (SELECT count(drivetribe.register_user(g, pg_temp.user_name(g, %s)))
                 FROM generate_series(%s::bigint, %s) g) s$q$, hi, :users, :seed, lo, hi)
FROM (SELECT lo, least(lo + :batch - 1, :users) AS hi FROM generate_series(1, :users, :batch) lo) b
ORDER BY lo
\gexec

-- tribes: owners among the first users; every owner is a member
SELECT format($q$SELECT 'loading tribes: %s/%s' FROM (SELECT count(drivetribe.create_tribe(g,
                   pg_temp.pick(%s, pg_temp.rnd(g, 20, %s), 2.0), pg_temp.tribe_name(g)))
                 FROM generate_series(%s::bigint, %s) g) s$q$, hi, :tribes, :users, :seed, lo, hi)
FROM (SELECT lo, least(lo + :batch - 1, :tribes) AS hi FROM generate_series(1, :tribes, :batch) lo) b
ORDER BY lo
\gexec

-- articles: prolific authors (low user ids), big tribes (low tribe ids)
SELECT format($q$SELECT 'loading articles: %s/%s' FROM (SELECT count(drivetribe.post_article(g,
                   pg_temp.pick(%s, pg_temp.rnd(g, 30, %s), 2.0),
                   pg_temp.pick(%s, pg_temp.rnd(g, 31, %s), 1.5),
                   pg_temp.title(g, %s)))
                 FROM generate_series(%s::bigint, %s) g) s$q$,
              hi, :articles, :users, :seed, :tribes, :seed, :seed, lo, hi)
FROM (SELECT lo, least(lo + :batch - 1, :articles) AS hi FROM generate_series(1, :articles, :batch) lo) b
ORDER BY lo
\gexec

-- engagement
SELECT format($q$SELECT 'loading engagement: %s/%s' FROM (SELECT count(CASE e.kind
                   WHEN 1 THEN drivetribe.view_article(e.a, e.u)
                   WHEN 2 THEN drivetribe.bump(e.a, e.u)
                   WHEN 3 THEN drivetribe.post_comment(e.i, e.a, e.u, pg_temp.comment_body(e.i, %s))
                   WHEN 4 THEN drivetribe.join_tribe(e.u, e.t)
                   ELSE drivetribe.follow_user(e.u, pg_temp.followee(e.u, e.f, %s)) END)
                 FROM pg_temp.engagement(%s, %s, %s, %s, %s, %s) e) s$q$,
              hi, :events, :seed, :users, lo, hi, :seed, :users, :tribes, :articles)
FROM (SELECT lo, least(lo + :batch - 1, :events) AS hi FROM generate_series(1, :events, :batch) lo) b
ORDER BY lo
\gexec

-- moderation: a few renames, edits, unbumps, leaves, unfollows and deletions,
-- in an order where each call is valid (nothing touches a deleted article)
SELECT 'moderation: renamed users: ' || count(drivetribe.rename_user(g,
         pg_temp.user_name(g, :seed) || ' (' || pg_temp.el(pg_temp.makes(), g) || ' fan)'))
FROM generate_series(1::bigint, :users) g
WHERE pg_temp.rnd(g, 60, :seed) < 0.01;

SELECT 'moderation: renamed tribes: ' || count(drivetribe.rename_tribe(s.tribe_id, left('The ' || s.name, 100)))
FROM drivetribe.tribe_stats s
WHERE s.tribe_id % 5 = 1;

SELECT 'moderation: edited articles: ' || count(drivetribe.edit_article(g, pg_temp.title(g, :seed) || ' (updated)'))
FROM generate_series(1::bigint, :articles) g
WHERE pg_temp.rnd(g, 61, :seed) < 0.005;

SELECT 'moderation: unbumps, tribes left, unfollows, deleted comments: ' ||
       count(CASE e.kind
               WHEN 2 THEN drivetribe.unbump(e.a, e.u)
               WHEN 3 THEN drivetribe.delete_comment(e.i)
               WHEN 4 THEN drivetribe.leave_tribe(e.u, e.t)
               WHEN 5 THEN drivetribe.unfollow_user(e.u, pg_temp.followee(e.u, e.f, :users)) END)
FROM pg_temp.engagement(1, :events, :seed, :users, :tribes, :articles) e
WHERE e.kind >= 2 AND pg_temp.rnd(e.i, 62, :seed) < 0.03;

SELECT 'moderation: deleted articles: ' || count(drivetribe.delete_article(g))
FROM generate_series(1::bigint, :articles) g
WHERE g > greatest(1, :articles / 100) AND pg_temp.rnd(g, 63, :seed) < 0.01;

-- ---------------------------------------------------------------- totals
SELECT format('community loaded: %s events appended in %s s (%s events/s)',
              n, round(t, 1), CASE WHEN t > 0 THEN round(n / t) END)
FROM (SELECT (SELECT count(*) FROM drivetribe.events WHERE seq > :dt_seq0) AS n,
             extract(epoch FROM clock_timestamp()) - :dt_t0 AS t) s;
