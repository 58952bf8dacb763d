-- drivetribe: a generated community with weeks of history, imported into
-- the log the way a site migrates its history (README, "Migrating a
-- site's history"): events with their original occurred_at are INSERTed
-- into drivetribe.events in chronological order, then drivetribe.rebuild()
-- computes every projection from the log.
--
--   psql -X -v users=5000 -v tribes=300 -v articles=30000 -v events=300000 \
--        -v days=28 -v seed=42 -v batch=10000 -f scripts/generate_community.sql DBNAME
--
-- Every variable is optional (the defaults are the values above).  Needs a
-- superuser (only the extension's owner may INSERT into the log),
-- `CREATE EXTENSION drivetribe` and an empty log: imported history lies in
-- the past, and seq must grow with occurred_at.  Ids are fixed (users
-- 1..users, tribes 1..tribes, articles 1..articles, comments numbered by
-- their engagement event).
--
-- Deterministic: every choice is a hash of (seed, stream, index), so the
-- same variables give the same events in the same order; only the times
-- move with the moment of the load (the history ends a minute before it).
--   users      register during the first 20 hours
--   tribes     car-culture communities (family x region: "Land Rover
--              Defenders", "JDM Legends Japan", ...), created hours 20-24;
--              low tribe ids are the biggest
--   articles   posted over the remaining days, a little more often lately;
--              each title from its tribe's vocabulary; prolific authors
--              are low user ids
--   engagement view 68%, bump 14%, comment 8%, join 6%, follow 4%; the
--              article of a view, bump or comment follows a heavy-tailed
--              law over a random "appeal" order of the articles (not their
--              ids), at its posting time plus an exponential delay (mean
--              one day); what would lie in the future is not imported, so
--              recent articles have gathered less so far
--   moderation unbumps, leaves, unfollows, deleted comments (3% each, later
--              than what they undo), edited titles, renamed users and
--              tribes, deleted articles (1%, never the most appealing);
--              nothing happens to an article after its deletion
-- Each batch of `batch` events is one transaction holding EXCLUSIVE on the
-- log (API writers wait); one progress line per batch.  Nothing but
-- pg_temp objects is created; they vanish with the session.

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
\if :{?days}
\else
  \set days 28
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
             AND :batch >= 1 AND :users >= :tribes AND :days >= 2
            THEN 'true' ELSE 'false' END AS dt_sizes_ok \gset
\if :dt_sizes_ok
\else
  \echo 'generate_community: need users >= 2, users >= tribes >= 1, articles >= 1, events >= 0, batch >= 1, days >= 2'
  SELECT 1/0 AS bad_sizes;
\endif
SELECT NOT EXISTS (SELECT FROM drivetribe.events) AS dt_log_empty \gset
\if :dt_log_empty
\else
  \echo 'generate_community: drivetribe.events is not empty: imported history must come before every event already logged (load into a fresh database)'
  SELECT 1/0 AS log_not_empty;
\endif

-- the history ends a minute before now and starts `days` earlier (epoch s)
SELECT extract(epoch FROM clock_timestamp()) AS dt_t0,
       floor(extract(epoch FROM now())) - 60 AS dt_end,
       floor(extract(epoch FROM now())) - 60 - :days * 86400 AS dt_start \gset

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

-- a time: epoch seconds to timestamptz
CREATE FUNCTION pg_temp.ts(s float8) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_timestamp(s) $$;

-- an exponential delay in seconds with the given mean, at least a minute
CREATE FUNCTION pg_temp.delay(u float8, mean float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 60 + -ln(1 - u) * mean $$;

-- tribe families: a name, the cars its members talk about, and what they
-- talk about; tribe t is family 1 + (t-1) % families, in region (t-1) / families
-- years: each model's production years {first, last} (last 0: still made),
-- in the models' order; {y} in a title is drawn within them
CREATE TEMP TABLE family (f int PRIMARY KEY, name text, models text[], things text[], years int[]);
INSERT INTO family VALUES
 (1, 'Land Rover Defenders', '{"Defender 110","Defender 90","Series III","Defender 130"}',
     '{"chassis swap","galvanised bulkhead","TD5 engine","Puma dashboard","winch and snorkel","axle rebuild"}', '{{1983,2016},{1984,2016},{1971,1985},{1983,2016}}'),
 (2, 'Porsche 911 Owners', '{"911 GT3","964 Carrera","993 Turbo","911 Targa"}',
     '{"IMS bearing","bore scoring","engine-out service","PDK vs manual","Fuchs wheels","air-cooled values"}', '{{1999,0},{1989,1994},{1995,1998},{1967,0}}'),
 (3, 'JDM Legends', '{"Skyline GT-R","Supra Mk4","RX-7 FD","NSX"}',
     '{"import paperwork","twin-turbo rebuild","rotary apex seals","RB26 tuning","right-hand drive","auction sheets"}', '{{1969,2002},{1993,2002},{1992,2002},{1990,2005}}'),
 (4, 'Hot Hatch Heroes', '{"Golf GTI","Civic Type R","Peugeot 205 GTi","Fiesta ST"}',
     '{"lift-off oversteer","limited-slip diff","coilovers","track tyres","clutch replacement","daily-driver comfort"}', '{{1976,0},{1997,0},{1984,1994},{2005,2022}}'),
 (5, 'Classic Mini Club', '{"Mini Cooper S","Mini 1275GT","Mini Moke","Mini Clubman"}',
     '{"subframe rust","A-series tuning","hydrolastic suspension","Minilite wheels","rally history","doors that fit"}', '{{1963,1971},{1969,1980},{1964,1993},{1969,1980}}'),
 (6, 'Alfa Romeo Alfisti', '{"Giulia Quadrifoglio","Alfasud","Spider Duetto","GTV6"}',
     '{"Busso V6","rust proofing","electrics","timing belt","Italian paint","cuore sportivo"}', '{{2016,0},{1972,1989},{1966,1969},{1980,1987}}'),
 (7, 'Rally Legends', '{"Lancia Delta Integrale","Audi Quattro S1","Escort Cosworth","Impreza WRX"}',
     '{"Group B","gravel stages","pace notes","homologation specials","anti-lag","WRC history"}', '{{1987,1994},{1985,1986},{1992,1996},{1992,2014}}'),
 (8, 'EV Pioneers', '{"Model S","Ioniq 5 N","Taycan","Leaf"}',
     '{"range in winter","battery health","rapid charging","heat pumps","regen braking","one-pedal driving"}', '{{2012,0},{2023,0},{2019,0},{2010,0}}'),
 (9, 'Track Day Junkies', '{"MX-5","Lotus Elise","BMW M3","Caterham Seven"}',
     '{"brake fade","lap times at Spa","tyre pressures","noise limits","data logging","harness bars"}', '{{1989,0},{1996,2021},{1986,0},{1973,0}}'),
 (10, 'Muscle Car Garage', '{"Mustang Mach 1","Charger R/T","Camaro Z28","Chevelle SS"}',
     '{"big-block swap","quarter-mile times","drum-to-disc conversion","carburettor tuning","matching numbers","burnouts"}', '{{1969,1973},{1968,1971},{1967,1974},{1964,1973}}'),
 (11, 'Italian Exotics', '{"Ferrari F40","Lamborghini Countach","Ferrari Testarossa","Lamborghini Miura"}',
     '{"cambelt service","concours judging","gated shifters","auction prices","clutch wear","Pininfarina design"}', '{{1987,1992},{1974,1990},{1984,1991},{1966,1973}}'),
 (12, 'Barn Find Hunters', '{"Jaguar E-Type","Triumph TR6","MGB GT","Austin-Healey 3000"}',
     '{"first start in 40 years","seized engine","original paint","patina vs restoration","paperwork hunt","trailer recovery"}', '{{1961,1975},{1968,1976},{1965,1980},{1959,1967}}'),
 (13, 'Volvo Estate Appreciation', '{"Volvo 240","Volvo 850 T5-R","Volvo V70 R","Volvo 940"}',
     '{"boot space","the million-mile engine","flat-nose tuning","tow bars","safety cages","redblock boost"}', '{{1974,1993},{1995,1996},{1997,2007},{1990,1998}}'),
 (14, 'BMW M Division', '{"M3 CSL","E30 M3","M5 E39","1M Coupé"}',
     '{"rod bearings","VANOS rebuild","S54 sound","subframe cracks","Nürburgring laps","Individual paint"}', '{{2003,2004},{1986,1991},{1998,2003},{2011,2012}}'),
 (15, 'Mercedes AMG Club', '{"190E Evo II","C63 AMG","E55 AMG","SL55"}',
     '{"hand-built engines","supercharger whine","air suspension","head bolts","Affalterbach","one man one engine"}', '{{1990,1990},{2008,2023},{1998,2006},{2002,2008}}'),
 (16, 'Aston Martin Owners', '{"DB5","Vantage V8","DB9","V12 Vanquish"}',
     '{"the Bond spec","service history","V12 sound","Newport Pagnell","ZF gearbox","leather restoration"}', '{{1963,1965},{1977,1989},{2004,2016},{2001,2007}}'),
 (17, 'Subaru Boxer Crew', '{"Impreza WRX STI","Forester STI","Legacy RS","BRZ"}',
     '{"head gaskets","boxer rumble","symmetrical AWD","turbo lag","rally blue paint","ringland failure"}', '{{1994,2014},{2004,2007},{1989,1993},{2012,0}}'),
 (18, 'Citroën Hydropneumatics', '{"Citroën DS","Citroën SM","Citroën CX","Citroën XM"}',
     '{"sphere replacement","LHM fluid","magic-carpet ride","self-levelling","Maserati V6","swivelling headlamps"}', '{{1955,1975},{1970,1975},{1974,1991},{1989,2000}}'),
 (19, 'Off-Road Overlanders', '{"Land Cruiser 80","Jeep Wrangler","Nissan Patrol","Mitsubishi Pajero"}',
     '{"roof tents","diff locks","recovery gear","water crossings","dual batteries","expedition builds"}', '{{1990,1997},{1986,0},{1951,0},{1982,2021}}'),
 (20, 'Kei Car Club', '{"Honda Beat","Suzuki Cappuccino","Autozam AZ-1","Daihatsu Copen"}',
     '{"660cc turbos","gullwing doors","parking in Tokyo","import costs","tiny tyres","rev-limiter fun"}', '{{1991,1996},{1991,1998},{1992,1995},{2002,0}}'),
 (21, 'Lotus Lightweights', '{"Lotus Elan","Lotus Exige","Lotus Esprit","Lotus Evora"}',
     '{"simplify then add lightness","fibreglass repairs","Toyota engines","chassis galvanising","handling","track setup"}', '{{1962,1975},{2000,2021},{1976,2004},{2009,2021}}'),
 (22, 'Hot Rod Builders', '{"Ford Model A","Ford Deuce Coupe","Chevy Bel Air","Willys Coupe"}',
     '{"chopped roofs","flathead V8","pinstriping","suicide doors","whitewall tyres","chassis from scratch"}', '{{1927,1931},{1932,1932},{1950,1981},{1933,1942}}'),
 (23, 'Fiat Cinquecento Fans', '{"Fiat 500","Fiat 500 Abarth","Fiat Panda 4x4","Fiat 124 Spider"}',
     '{"two-cylinder charm","Abarth exhaust","city parking","rust in the floor","Italian summers","cheap parts"}', '{{1957,1975},{2008,0},{1983,0},{1966,1985}}'),
 (24, 'Supercar Spotters', '{"McLaren F1","Bugatti Veyron","Pagani Zonda","Porsche Carrera GT"}',
     '{"Monaco in May","Goodwood paddock","hypercar prices","camera settings","launch control","the one that got away"}', '{{1992,1998},{2005,2015},{1999,2019},{2004,2007}}');

CREATE FUNCTION pg_temp.regions() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{UK,Germany,USA,Japan,Australia,France,Italy,Sweden,Netherlands,Canada,Scotland,Wales,
  Ireland,Spain,"New Zealand",Norway,Belgium,Switzerland,Austria,Finland,Denmark,Poland,
  Portugal,"South Africa",Brazil,Mexico,Singapore,Dubai,Texas,California}'::text[] $$;
CREATE FUNCTION pg_temp.places() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"the Alps","the Scottish Highlands","the Nürburgring","Route 66","the Stelvio Pass",Wales,
  Iceland,"the Atacama",Goodwood,Spa-Francorchamps,"the Transfăgărășan","Mulholland Drive",
  "the Col de Turini","the Isle of Man","Tokyo at night","the Outback","a wet Monday commute"}'::text[] $$;
CREATE FUNCTION pg_temp.title_templates() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"{m} rebuild: {x}",
  "{m} rebuild, part {n}: {x}",
  "Buying a used {m}: {x} and everything else that will go wrong",
  "Long-term test: {m}, month {n}",
  "{m} vs {m2}: which one would you take home?",
  "I drove my {m} across {p} and this is what happened",
  "Everything you need to know about {x}",
  "{x} on my {m}: a weekend how-to",
  "Spotted: a {y} {m} in {p}",
  "We took the {m} and the {m2} to {p}",
  "Is the {m} still worth it in {y2}?",
  "Ten things nobody tells you about the {m}",
  "My {y} {m} and the great {x} saga",
  "Ask the tribe: {x} on the {m}?"}'::text[] $$;
CREATE FUNCTION pg_temp.comment_templates() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT
'{"Great read. My {m} did exactly the same thing.",
  "Had one of these in {y}. Never again.",
  "Did you sort the {x} yourself or pay someone?",
  "The {m2} is better and you know it.",
  "This is why I love this tribe.",
  "Sold my {m} last year and I regret it every day 😢",
  "Bumped. The photos alone are worth it.",
  "{x} is the whole reason I bought mine.",
  "Part {n} when?",
  "Took mine to {p} last summer, not a single problem.",
  "My dad had the {m} too. Brings back memories of {p}.",
  "Respectfully disagree about the {x}."}'::text[] $$;

-- fill {m} {m2} {x} {p} {y} {y2} {n} of a template from hashes of k, with
-- the models, things and production years of a tribe's family ({m2} is
-- another model than {m}; {y} a year {m} was made in; {y2} a year since
-- 2015 and since {m} was first made, up to this one); the first letter in
-- upper case
CREATE FUNCTION pg_temp.fill(t text, k bigint, seed int, models text[], things text[], years int[]) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT upper(left(s, 1)) || substr(s, 2) FROM (SELECT
         replace(replace(replace(replace(replace(replace(replace(t,
           '{m2}', pg_temp.el(models, m + 1 + floor(pg_temp.rnd(k, 51, seed) * (cardinality(models) - 1))::bigint)),
           '{m}',  pg_temp.el(models, m)),
           '{x}',  pg_temp.el(things, floor(pg_temp.rnd(k, 57, seed) * 1e6)::bigint)),
           '{p}',  pg_temp.el(pg_temp.places(), floor(pg_temp.rnd(k, 53, seed) * 1e6)::bigint)),
           '{y2}', (y2lo + floor(pg_temp.rnd(k, 58, seed) * (now_y - y2lo + 1)))::int::text),
           '{y}',  (y0 + floor(pg_temp.rnd(k, 55, seed) * (y1 - y0 + 1)))::int::text),
           '{n}',  (1 + floor(pg_temp.rnd(k, 56, seed) * 12))::int::text) AS s
         FROM (SELECT m, y0, y1, now_y, least(greatest(y0, 2015), now_y) AS y2lo
                 FROM (SELECT m, years[i][1] AS y0, coalesce(nullif(years[i][2], 0), now_y) AS y1, now_y
                         FROM (SELECT m, 1 + (m % cardinality(models))::int AS i,
                                      extract(year FROM now())::int AS now_y
                                 FROM (SELECT floor(pg_temp.rnd(k, 52, seed) * 1e6)::bigint AS m) x0) x1) x2) x) y $$;

CREATE FUNCTION pg_temp.user_name(u bigint, seed int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT pg_temp.el(pg_temp.firsts(), floor(pg_temp.rnd(u, 1, seed) * 1e6)::bigint) || ' ' ||
         pg_temp.el(pg_temp.lasts(),  floor(pg_temp.rnd(u, 2, seed) * 1e6)::bigint) $$;

-- ---------------------------------------------------------------- the world

\echo 'generating community: ':users' users, ':tribes' tribes, ':articles' articles, ':events' engagement events over ':days' days (seed ':seed')'

-- users: registered in the first 20 hours; 1% renamed later
CREATE TEMP TABLE u AS
SELECT g AS u, pg_temp.user_name(g, :seed) AS name,
       :dt_start + 72000 * pg_temp.rnd(g, 70, :seed) AS reg,
       CASE WHEN pg_temp.rnd(g, 60, :seed) < 0.01
            THEN :dt_start + 86400 + (:days - 1) * 86400 * pg_temp.rnd(g, 64, :seed) END AS ren,
       pg_temp.user_name(g, :seed) || ' (' ||
         (SELECT split_part(name, ' ', 1) FROM family WHERE f = 1 + (g % 24)) || ' fan)' AS new_name
FROM generate_series(1::bigint, :users) g;
ALTER TABLE u ADD PRIMARY KEY (u);

-- tribes: family x region, owners among the first users; every seventh renamed
CREATE TEMP TABLE t AS
SELECT g AS t, 1 + ((g - 1) % 24)::int AS f,
       pg_temp.pick(:users, pg_temp.rnd(g, 20, :seed), 2.0) AS owner,
       left(fa.name || CASE WHEN g > 24 THEN ' ' || pg_temp.el(pg_temp.regions(), (g - 25) / 24) ELSE '' END
                    || CASE WHEN g > 24 * 31 THEN ' #' || (1 + (g - 1) / (24 * 31)) ELSE '' END, 100) AS name,
       :dt_start + 72000 + 14400 * pg_temp.rnd(g, 71, :seed) AS created,
       CASE WHEN g % 7 = 3 THEN :dt_start + 86400 + (:days - 1) * 86400 * pg_temp.rnd(g, 72, :seed) END AS ren
FROM generate_series(1::bigint, :tribes) g JOIN family fa ON fa.f = 1 + ((g - 1) % 24);
ALTER TABLE t ADD PRIMARY KEY (t);

-- articles: posted from day 2 on, a little more often lately; a random
-- appeal order (rank 1 = most appealing) independent of ids and times
CREATE TEMP TABLE a AS
SELECT x.*, row_number() OVER (ORDER BY hashint8extended(x.a, :seed::bigint * 1000 + 33), x.a) AS rank
FROM (SELECT g AS a,
             pg_temp.pick(:users, pg_temp.rnd(g, 30, :seed), 2.0) AS author,
             pg_temp.pick(:tribes, pg_temp.rnd(g, 31, :seed), 1.5) AS tribe,
             :dt_start + 86400 + ((:days - 1) * 86400 - 120) * power(pg_temp.rnd(g, 32, :seed), 0.8) AS posted
      FROM generate_series(1::bigint, :articles) g) x;
ALTER TABLE a ADD COLUMN title text, ADD COLUMN del float8, ADD COLUMN edit float8;
UPDATE a SET title = pg_temp.fill(pg_temp.el(pg_temp.title_templates(), floor(pg_temp.rnd(a.a, 40, :seed) * 1e6)::bigint),
                                  a.a, :seed, fa.models, fa.things, fa.years)
FROM t JOIN family fa ON fa.f = t.f WHERE t.t = a.tribe;
-- 1% deleted a few days after posting (never the most appealing 1%), 0.5% retitled
UPDATE a SET del = CASE WHEN rank > greatest(1, :articles / 100) AND pg_temp.rnd(a, 63, :seed) < 0.01
                         AND posted + pg_temp.delay(pg_temp.rnd(a, 65, :seed), 259200) < :dt_end
                        THEN posted + pg_temp.delay(pg_temp.rnd(a, 65, :seed), 259200) END,
             edit = CASE WHEN pg_temp.rnd(a, 61, :seed) < 0.005
                          AND posted + pg_temp.delay(pg_temp.rnd(a, 66, :seed), 43200) < :dt_end
                         THEN posted + pg_temp.delay(pg_temp.rnd(a, 66, :seed), 43200) END;
UPDATE a SET edit = NULL WHERE edit >= del;
ALTER TABLE a ADD PRIMARY KEY (a);
CREATE UNIQUE INDEX ON a (rank);

-- engagement event i: kind 1 view, 2 bump, 3 comment, 4 join, 5 follow;
-- the article by a heavy-tailed law over the appeal order, at its posting
-- time plus an exponential delay (mean a day); joins and follows any time
-- after day 1.  Events past the end (or after the article's deletion) are
-- dropped.
CREATE TEMP TABLE e AS
SELECT g.i, k.kind,
       CASE WHEN k.kind <= 3 THEN pg_temp.pick(:articles, pg_temp.rnd(g.i, 11, :seed), 2.2) END AS rank,
       CASE WHEN k.kind = 1 AND pg_temp.rnd(g.i, 12, :seed) < 0.3 THEN NULL
            ELSE pg_temp.pick(:users, pg_temp.rnd(g.i, 13, :seed), CASE WHEN k.kind >= 4 THEN 1.0 ELSE 1.3 END) END AS u,
       pg_temp.pick(:tribes, pg_temp.rnd(g.i, 14, :seed), 1.5) AS t,
       pg_temp.pick(:users, pg_temp.rnd(g.i, 15, :seed), 2.5) AS f,
       pg_temp.rnd(g.i, 16, :seed) AS ud, pg_temp.rnd(g.i, 17, :seed) AS ut
FROM generate_series(1::bigint, :events) AS g(i),
     LATERAL (SELECT CASE WHEN r < 0.68 THEN 1 WHEN r < 0.82 THEN 2 WHEN r < 0.90 THEN 3
                          WHEN r < 0.96 THEN 4 ELSE 5 END AS kind
              FROM (SELECT pg_temp.rnd(g.i, 10, :seed) AS r) x) k;

CREATE TEMP TABLE eng AS
SELECT e.i, e.kind, a.a, e.u, a.posted + pg_temp.delay(e.ud, 86400) AS at
FROM e JOIN a ON a.rank = e.rank
WHERE e.kind <= 3 AND a.posted + pg_temp.delay(e.ud, 86400) < least(:dt_end, a.del);
CREATE TEMP TABLE bmp AS          -- current bumps: each (article, user) once, the first
SELECT DISTINCT ON (a, u) i, a, u, at FROM eng WHERE kind = 2 ORDER BY a, u, at, i;
ALTER TABLE bmp ADD COLUMN unat float8;
UPDATE bmp SET unat = bmp.at + pg_temp.delay(pg_temp.rnd(bmp.i, 67, :seed), 86400)
FROM a WHERE a.a = bmp.a AND pg_temp.rnd(bmp.i, 62, :seed) < 0.03
         AND bmp.at + pg_temp.delay(pg_temp.rnd(bmp.i, 67, :seed), 86400) < least(:dt_end, a.del);
CREATE TEMP TABLE cmt AS
SELECT i, a, u, at, NULL::float8 AS delat FROM eng WHERE kind = 3;
UPDATE cmt SET delat = cmt.at + pg_temp.delay(pg_temp.rnd(cmt.i, 67, :seed), 86400)
FROM a WHERE a.a = cmt.a AND pg_temp.rnd(cmt.i, 62, :seed) < 0.03
         AND cmt.at + pg_temp.delay(pg_temp.rnd(cmt.i, 67, :seed), 86400) < least(:dt_end, a.del);
CREATE TEMP TABLE mem AS          -- joins: each (user, tribe) once, not the owner
SELECT DISTINCT ON (e.u, e.t) e.i, e.u, e.t,
       :dt_start + 86400 + ((:days - 1) * 86400 - 120) * e.ut AS at, NULL::float8 AS leftat
FROM e JOIN t ON t.t = e.t
WHERE e.kind = 4 AND e.u <> t.owner ORDER BY e.u, e.t, e.ut, e.i;
UPDATE mem SET leftat = at + pg_temp.delay(pg_temp.rnd(i, 67, :seed), 259200)
WHERE pg_temp.rnd(i, 62, :seed) < 0.03 AND at + pg_temp.delay(pg_temp.rnd(i, 67, :seed), 259200) < :dt_end;
CREATE TEMP TABLE fol AS          -- follows: each (follower, followee) once, never oneself
SELECT DISTINCT ON (e.u, x.f) e.i, e.u, x.f,
       :dt_start + 86400 + ((:days - 1) * 86400 - 120) * e.ut AS at, NULL::float8 AS unat
FROM e, LATERAL (SELECT CASE WHEN e.u = e.f THEN e.u % :users + 1 ELSE e.f END AS f) x
WHERE e.kind = 5 ORDER BY e.u, x.f, e.ut, e.i;
UPDATE fol SET unat = at + pg_temp.delay(pg_temp.rnd(i, 67, :seed), 259200)
WHERE pg_temp.rnd(i, 62, :seed) < 0.03 AND at + pg_temp.delay(pg_temp.rnd(i, 67, :seed), 259200) < :dt_end;

-- names and titles as of a moment (the context of an event shows them)
CREATE FUNCTION pg_temp.uname(x u, at float8) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT CASE WHEN at >= x.ren THEN x.new_name ELSE x.name END $$;
CREATE FUNCTION pg_temp.tname(x t, at float8) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT CASE WHEN at >= x.ren THEN 'The ' || x.name ELSE x.name END $$;
CREATE FUNCTION pg_temp.atitle(x a, at float8) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT CASE WHEN at >= x.edit THEN x.title || ' (updated)' ELSE x.title END $$;

-- ---------------------------------------------------------------- the events
-- one row per event, as the write API would have logged it (docs/design.md,
-- "Event fields per kind"), with phase to order creations first at equal times
CREATE TEMP TABLE ev (at float8, phase int, k bigint, kind text, user_id bigint, tribe_id bigint,
                      article_id bigint, comment_id bigint, target_id bigint, recipient_id bigint,
                      body text, context jsonb);
INSERT INTO ev
SELECT reg, 0, u, 'user_registered', u, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, name,
       jsonb_build_object('user_name', name) FROM u
UNION ALL
SELECT ren, 3, u, 'user_renamed', u, NULL, NULL, NULL, NULL, NULL, new_name, jsonb_build_object('user_name', new_name) FROM u WHERE ren IS NOT NULL
UNION ALL
SELECT t.created, 1, t.t, 'tribe_created', t.owner, t.t, NULL, NULL, NULL, NULL, t.name,
       jsonb_build_object('user_name', pg_temp.uname(o, t.created), 'tribe_name', t.name)
FROM t JOIN u o ON o.u = t.owner
UNION ALL
SELECT t.ren, 3, t.t, 'tribe_renamed', NULL, t.t, NULL, NULL, t.owner, NULL, 'The ' || t.name,
       jsonb_build_object('tribe_name', 'The ' || t.name)
FROM t WHERE t.ren IS NOT NULL
UNION ALL
SELECT a.posted, 2, a.a, 'article_posted', a.author, a.tribe, a.a, NULL, NULL, NULL, a.title,
       jsonb_build_object('title', a.title, 'user_name', pg_temp.uname(w, a.posted), 'tribe_name', pg_temp.tname(t.*, a.posted))
FROM a JOIN u w ON w.u = a.author JOIN t ON t.t = a.tribe
UNION ALL
SELECT a.edit, 3, a.a, 'article_edited', a.author, a.tribe, a.a, NULL, NULL, NULL, a.title || ' (updated)',
       jsonb_build_object('title', a.title || ' (updated)')
FROM a WHERE a.edit IS NOT NULL
UNION ALL
SELECT a.del, 4, a.a, 'article_deleted', a.author, a.tribe, a.a, NULL, NULL, NULL, NULL,
       jsonb_build_object('bumps', (SELECT count(*) FROM bmp WHERE bmp.a = a.a AND (bmp.unat IS NULL OR bmp.unat >= a.del)),
                          'title', pg_temp.atitle(a.*, a.del))
FROM a WHERE a.del IS NOT NULL
UNION ALL
SELECT g.at, 3, g.i, 'article_viewed', g.u, a.tribe, a.a, NULL, a.author, NULL, NULL,
       CASE WHEN g.u IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('user_name', pg_temp.uname(v, g.at)) END
FROM eng g JOIN a ON a.a = g.a LEFT JOIN u v ON v.u = g.u
WHERE g.kind = 1
UNION ALL
SELECT b.at, 3, b.i, 'article_bumped', b.u, a.tribe, a.a, NULL, a.author, a.author, NULL,
       jsonb_build_object('title', pg_temp.atitle(a.*, b.at), 'user_name', pg_temp.uname(v, b.at))
FROM bmp b JOIN a ON a.a = b.a JOIN u v ON v.u = b.u
UNION ALL
SELECT b.unat, 3, b.i, 'article_unbumped', b.u, a.tribe, a.a, NULL, a.author, NULL, NULL,
       jsonb_build_object('title', pg_temp.atitle(a.*, b.unat), 'user_name', pg_temp.uname(v, b.unat))
FROM bmp b JOIN a ON a.a = b.a JOIN u v ON v.u = b.u WHERE b.unat IS NOT NULL
UNION ALL
SELECT c.at, 3, c.i, 'comment_posted', c.u, a.tribe, a.a, c.i, a.author, a.author,
       pg_temp.fill(pg_temp.el(pg_temp.comment_templates(), floor(pg_temp.rnd(c.i, 41, :seed) * 1e6)::bigint),
                    c.i + 7777777, :seed, fa.models, fa.things, fa.years),
       jsonb_build_object('title', pg_temp.atitle(a.*, c.at), 'user_name', pg_temp.uname(v, c.at))
FROM cmt c JOIN a ON a.a = c.a JOIN u v ON v.u = c.u JOIN t ON t.t = a.tribe JOIN family fa ON fa.f = t.f
UNION ALL
SELECT c.delat, 3, c.i, 'comment_deleted', c.u, a.tribe, a.a, c.i, a.author, NULL, NULL,
       jsonb_build_object('title', pg_temp.atitle(a.*, c.delat))
FROM cmt c JOIN a ON a.a = c.a WHERE c.delat IS NOT NULL
UNION ALL
SELECT m.at, 3, m.i, 'tribe_joined', m.u, m.t, NULL, NULL, t.owner, t.owner, NULL,
       jsonb_build_object('user_name', pg_temp.uname(v, m.at), 'tribe_name', pg_temp.tname(t.*, m.at))
FROM mem m JOIN t ON t.t = m.t JOIN u v ON v.u = m.u
UNION ALL
SELECT m.leftat, 3, m.i, 'tribe_left', m.u, m.t, NULL, NULL, t.owner, NULL, NULL,
       jsonb_build_object('user_name', pg_temp.uname(v, m.leftat), 'tribe_name', pg_temp.tname(t.*, m.leftat))
FROM mem m JOIN t ON t.t = m.t JOIN u v ON v.u = m.u WHERE m.leftat IS NOT NULL
UNION ALL
SELECT f.at, 3, f.i, 'user_followed', f.u, NULL, NULL, NULL, f.f, f.f, NULL,
       jsonb_build_object('user_name', pg_temp.uname(v, f.at), 'target_name', pg_temp.uname(w, f.at))
FROM fol f JOIN u v ON v.u = f.u JOIN u w ON w.u = f.f
UNION ALL
SELECT f.unat, 3, f.i, 'user_unfollowed', f.u, NULL, NULL, NULL, f.f, NULL, NULL,
       jsonb_build_object('user_name', pg_temp.uname(v, f.unat), 'target_name', pg_temp.uname(w, f.unat))
FROM fol f JOIN u v ON v.u = f.u JOIN u w ON w.u = f.f WHERE f.unat IS NOT NULL;

CREATE TEMP TABLE evn AS
SELECT row_number() OVER (ORDER BY at, phase, kind, k) AS n, * FROM ev;
CREATE UNIQUE INDEX ON evn (n);
SELECT count(*) AS dt_n FROM evn \gset

-- ---------------------------------------------------------------- the import
-- In chronological order, `batch` events per transaction, each holding
-- EXCLUSIVE on the log; seq and txid come from their defaults, event_id
-- from the seed (a re-import of the same history would collide).
SELECT format($q$BEGIN$q$),
       format($q$LOCK TABLE drivetribe.events IN EXCLUSIVE MODE$q$),
       format($q$INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id,
                                             comment_id, target_id, recipient_id, body, context)
                 SELECT md5(%s || '/' || n)::uuid, kind, pg_temp.ts(at), user_id, tribe_id, article_id,
                        comment_id, target_id, recipient_id, body, context
                 FROM evn WHERE n BETWEEN %s AND %s ORDER BY n$q$, :seed, lo, hi),
       format($q$COMMIT$q$),
       format($q$SELECT 'importing events: %s/%s'$q$, hi, :dt_n)
FROM (SELECT lo, least(lo + :batch - 1, :dt_n) AS hi FROM generate_series(1, :dt_n, :batch) lo) b
ORDER BY lo
\gexec

-- every projection from the log
SELECT extract(epoch FROM clock_timestamp()) AS dt_t1 \gset
SELECT 'rebuild(): ' || drivetribe.rebuild() || ' events replayed in ' ||
       round((extract(epoch FROM clock_timestamp()) - :dt_t1)::numeric, 1) || ' s';

-- ---------------------------------------------------------------- totals
SELECT format('community loaded: %s events from %s to %s imported in %s s (%s events/s)',
              n, to_char(pg_temp.ts(:dt_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
              to_char(pg_temp.ts(:dt_end) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
              round(t::numeric, 1), CASE WHEN t > 0 THEN round((n / t)::numeric) END)
FROM (SELECT (SELECT count(*) FROM drivetribe.events) AS n,
             extract(epoch FROM clock_timestamp()) - :dt_t0 AS t) s;
