//! What a person's focus adds up to, from what the store keeps of each
//! session: the stretches in which the timer's blocks ran ([`Run`]) and each
//! person's stays in the room ([`Stay`]). Nothing here is a counter: focused
//! minutes, completed blocks and streaks are worked out from those records
//! every time, so they cannot drift from the sessions they describe.
//!
//! - **Focused time** is time in the room while a work block ran: the
//!   overlap of a person's stays with the session's work runs.
//! - **A completed block** is a work block that ran to its end while the
//!   person was in the room. A skipped block, or one cut by the end of the
//!   session, is focused time but not a completed block.
//! - **A streak** is the run of days, up to today, each with at least one
//!   completed block. Today still counts as kept until it is over: a streak
//!   that reached yesterday is shown until a block is completed today or the
//!   day ends.
//!
//! Days are the reader's: the caller gives their offset from UTC.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ritual::{Block, BlockKind, TimerPhase};
use crate::{Id, InvalidInput};

/// One stretch in which a block of a session's timer ran without a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The block's index in the session's plan, from 0.
    pub block: i64,
    pub kind: BlockKind,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Whether the block ran out here (not paused, skipped or cut short).
    pub completed: bool,
}

/// What a change of the timer closed: the runs that ended, and since when
/// the run now going (if any) has been running.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunLog {
    pub closed: Vec<Run>,
    pub running_since: Option<DateTime<Utc>>,
}

fn block_of(plan: &[Block], block: i64) -> Option<Block> {
    usize::try_from(block)
        .ok()
        .and_then(|index| plan.get(index))
        .copied()
}

/// The runs closed by the timer changing from `before` (running since
/// `running_since`) to `after` at `now`, under `plan`.
///
/// A change is either the passing of time (a running block's end is at or
/// before `now`: it and any blocks after it that also ran out are
/// completed, each from where the last one ended) or an action on a timer
/// whose block has not ended (a pause, a skip or the session's end closes
/// the run short; "+5" keeps it going). Callers advance the timer to `now`
/// before they act on it, so the two never mix in one change.
pub fn runs_between(
    plan: &[Block],
    before: TimerPhase,
    running_since: Option<DateTime<Utc>>,
    after: TimerPhase,
    now: DateTime<Utc>,
) -> RunLog {
    let since_now = |phase: TimerPhase| matches!(phase, TimerPhase::Running { .. }).then_some(now);
    let TimerPhase::Running { block, ends_at } = before else {
        return RunLog {
            closed: Vec::new(),
            running_since: since_now(after),
        };
    };
    let Some(current) = block_of(plan, block) else {
        return RunLog::default();
    };
    // A timer started before runs were kept: its run began a block's length
    // before its end, as far as anyone can tell.
    let started_at = running_since.unwrap_or(ends_at - current.length);
    if ends_at > now {
        if let TimerPhase::Running { block: still, .. } = after
            && still == block
        {
            return RunLog {
                closed: Vec::new(),
                running_since: Some(started_at),
            };
        }
        return RunLog {
            closed: vec![Run {
                block,
                kind: current.kind,
                started_at,
                ended_at: now,
                completed: false,
            }],
            running_since: since_now(after),
        };
    }
    // Time passed: every block up to the one now running (or the plan's
    // end) ran out, back to back.
    let last_done = match after {
        TimerPhase::Running { block: next, .. } => next - 1,
        _ => i64::try_from(plan.len()).unwrap_or(i64::MAX) - 1,
    };
    let mut closed = vec![Run {
        block,
        kind: current.kind,
        started_at,
        ended_at: ends_at,
        completed: true,
    }];
    let mut end = ends_at;
    for index in block + 1..=last_done {
        let Some(done) = block_of(plan, index) else {
            break;
        };
        closed.push(Run {
            block: index,
            kind: done.kind,
            started_at: end,
            ended_at: end + done.length,
            completed: true,
        });
        end += done.length;
    }
    RunLog {
        closed,
        running_since: matches!(after, TimerPhase::Running { .. }).then_some(end),
    }
}

/// One stretch of a person in a session's room, from joining to leaving
/// (`None` while they are still there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay {
    pub session_id: Id,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

impl Stay {
    fn covers(&self, at: DateTime<Utc>) -> bool {
        self.joined_at <= at && self.left_at.is_none_or(|left| at <= left)
    }

    /// The part of `run` this stay was there for, if any.
    fn overlap(&self, run: &Run) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let from = self.joined_at.max(run.started_at);
        let until = self
            .left_at
            .map_or(run.ended_at, |left| left.min(run.ended_at));
        (from < until).then_some((from, until))
    }
}

/// What one person's `stays` in a session add up to with its `runs`:
/// `(focused seconds, completed blocks)`.
pub fn in_session(stays: &[Stay], runs: &[Run]) -> (i64, i64) {
    let work = || runs.iter().filter(|run| run.kind == BlockKind::Work);
    let seconds = work()
        .flat_map(|run| stays.iter().filter_map(|stay| stay.overlap(run)))
        .map(|(from, until)| (until - from).num_seconds())
        .sum();
    let blocks = work()
        .filter(|run| run.completed && stays.iter().any(|stay| stay.covers(run.ended_at)))
        .count();
    (seconds, i64::try_from(blocks).unwrap_or(i64::MAX))
}

/// A run of one session's timer, as the store lists a person's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRun {
    pub session_id: Id,
    pub run: Run,
}

/// How many days of focus a person's stats look back over: a year of whole
/// weeks, for the heatmap.
pub const STATS_DAYS: i64 = 53 * 7;
/// How many weeks the weekly totals show.
pub const STATS_WEEKS: i64 = 8;

/// One day of a person's focus, in their own time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FocusDay {
    pub date: NaiveDate,
    /// Minutes in a room while a work block ran.
    pub minutes: i64,
    /// Work blocks that ran to their end with the person in the room.
    pub blocks: i64,
}

/// One week (Monday to Sunday) of a person's focus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FocusWeek {
    /// The week's Monday.
    pub starts: NaiveDate,
    pub minutes: i64,
    pub blocks: i64,
}

/// A person's focus over the last year, worked out from their sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FocusStats {
    /// The reader's offset from UTC the days are counted in.
    pub utc_offset_minutes: i32,
    pub today: NaiveDate,
    pub today_minutes: i64,
    /// This week, from Monday.
    pub week_minutes: i64,
    /// Days in a row, up to today, with at least one completed block.
    pub streak_days: i64,
    /// The longest such run within the year shown.
    pub longest_streak_days: i64,
    /// Over the year shown.
    pub total_minutes: i64,
    pub total_blocks: i64,
    /// Every day of the year shown with any focus, oldest first.
    pub days: Vec<FocusDay>,
    /// The last [`STATS_WEEKS`] weeks, oldest first, this week last.
    pub weeks: Vec<FocusWeek>,
}

impl FocusStats {
    /// The first day the stats cover: a Monday, so the heatmap's columns
    /// are whole weeks ending with this one.
    pub fn first_day(&self) -> NaiveDate {
        monday_of(self.today) - Duration::days(STATS_DAYS - 7)
    }
}

fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

#[derive(Default, Clone, Copy)]
struct Tally {
    seconds: i64,
    blocks: i64,
}

/// Adds the seconds of `[from, until)` to the local days they fall on.
fn add_span(
    days: &mut BTreeMap<NaiveDate, Tally>,
    offset: FixedOffset,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let mut from = from.with_timezone(&offset);
    let until = until.with_timezone(&offset);
    while from < until {
        let day = from.date_naive();
        let next_midnight = day
            .succ_opt()
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .and_then(|midnight| midnight.and_local_timezone(offset).single())
            .unwrap_or(until);
        let end = next_midnight.min(until);
        days.entry(day).or_default().seconds += (end - from).num_seconds();
        from = end;
    }
}

/// A person's focus stats from their `stays` and the `runs` of the sessions
/// they stayed in, on `today` in the time zone `offset`.
pub fn stats(
    stays: &[Stay],
    runs: &[SessionRun],
    today: NaiveDate,
    offset: FixedOffset,
) -> FocusStats {
    let mut days: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
    for SessionRun { session_id, run } in runs.iter().filter(|r| r.run.kind == BlockKind::Work) {
        let theirs = || stays.iter().filter(|stay| &stay.session_id == session_id);
        for (from, until) in theirs().filter_map(|stay| stay.overlap(run)) {
            add_span(&mut days, offset, from, until);
        }
        if run.completed && theirs().any(|stay| stay.covers(run.ended_at)) {
            let day = run.ended_at.with_timezone(&offset).date_naive();
            days.entry(day).or_default().blocks += 1;
        }
    }
    let first = monday_of(today) - Duration::days(STATS_DAYS - 7);
    days.retain(|day, _| (first..=today).contains(day));
    let minutes = |seconds: i64| (seconds + 30) / 60;
    let sum = |from: NaiveDate, until: NaiveDate| {
        days.range(from..=until)
            .fold(Tally::default(), |total, (_, day)| Tally {
                seconds: total.seconds + day.seconds,
                blocks: total.blocks + day.blocks,
            })
    };
    let with_block = |day: NaiveDate| days.get(&day).is_some_and(|tally| tally.blocks > 0);
    let mut streak_end = today;
    if !with_block(today) {
        streak_end = today - Duration::days(1);
    }
    let mut streak_days = 0;
    while with_block(streak_end - Duration::days(streak_days)) {
        streak_days += 1;
    }
    let (mut longest, mut running) = (0, 0);
    let mut day = first;
    while day <= today {
        running = if with_block(day) { running + 1 } else { 0 };
        longest = i64::max(longest, running);
        day += Duration::days(1);
    }
    let this_monday = monday_of(today);
    let weeks = (0..STATS_WEEKS)
        .rev()
        .map(|back| {
            let starts = this_monday - Duration::weeks(back);
            let total = sum(starts, starts + Duration::days(6));
            FocusWeek {
                starts,
                minutes: minutes(total.seconds),
                blocks: total.blocks,
            }
        })
        .collect();
    let year = sum(first, today);
    FocusStats {
        utc_offset_minutes: offset.local_minus_utc() / 60,
        today,
        today_minutes: minutes(days.get(&today).map_or(0, |tally| tally.seconds)),
        week_minutes: minutes(sum(this_monday, today).seconds),
        streak_days,
        longest_streak_days: longest,
        total_minutes: minutes(year.seconds),
        total_blocks: year.blocks,
        days: days
            .iter()
            .map(|(date, tally)| FocusDay {
                date: *date,
                minutes: minutes(tally.seconds),
                blocks: tally.blocks,
            })
            .collect(),
        weeks,
    }
}

/// The offset of a reader `minutes` ahead of UTC, if it is one a clock can
/// show (within ±14 hours).
pub fn utc_offset(minutes: i64) -> Option<FixedOffset> {
    if minutes.abs() > 14 * 60 {
        return None;
    }
    FixedOffset::east_opt(i32::try_from(minutes * 60).ok()?)
}

/// Reads a reader's offset from UTC as a client gives it: whole minutes,
/// east positive; none is UTC.
pub fn parse_utc_offset(raw: Option<&str>) -> Result<FixedOffset, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            "utc_offset_minutes",
            "must be a whole number of minutes from -840 to 840",
        )
    };
    let minutes = match raw {
        None => 0,
        Some(raw) => raw.trim().parse::<i64>().map_err(|_| invalid())?,
    };
    utc_offset(minutes).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ritual::blocks;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, hour, minute, 0).unwrap()
    }

    fn pomodoro_plan() -> Vec<Block> {
        // 25 work, 5 break, 25 work, 15 long break, …
        blocks(
            Some(90),
            Some(&crate::ritual::Rhythm::Pomodoro {
                work_minutes: 25,
                break_minutes: 5,
                long_break_minutes: 15,
                long_break_every: 2,
            }),
            None,
        )
    }

    fn running(block: i64, ends_at: DateTime<Utc>) -> TimerPhase {
        TimerPhase::Running { block, ends_at }
    }

    #[test]
    fn a_start_opens_a_run_and_a_pause_closes_it_short() {
        let plan = pomodoro_plan();
        let started = runs_between(
            &plan,
            TimerPhase::NotStarted,
            None,
            running(0, at(9, 25)),
            at(9, 0),
        );
        assert_eq!(started.closed, vec![]);
        assert_eq!(started.running_since, Some(at(9, 0)));
        let paused = runs_between(
            &plan,
            running(0, at(9, 25)),
            Some(at(9, 0)),
            TimerPhase::Paused {
                block: 0,
                remaining: Duration::minutes(15),
            },
            at(9, 10),
        );
        assert_eq!(
            paused.closed,
            vec![Run {
                block: 0,
                kind: BlockKind::Work,
                started_at: at(9, 0),
                ended_at: at(9, 10),
                completed: false,
            }]
        );
        assert_eq!(paused.running_since, None);
    }

    #[test]
    fn five_more_minutes_keep_the_run_going() {
        let log = runs_between(
            &pomodoro_plan(),
            running(0, at(9, 25)),
            Some(at(9, 0)),
            running(0, at(9, 30)),
            at(9, 20),
        );
        assert_eq!(log.closed, vec![]);
        assert_eq!(log.running_since, Some(at(9, 0)));
    }

    #[test]
    fn a_late_sweep_completes_every_block_that_ran_out_back_to_back() {
        // Work ran from 9:00 (with a pause, so it ends at 9:32), the break
        // after it to 9:37, and the second work block is running at 9:40.
        let log = runs_between(
            &pomodoro_plan(),
            running(0, at(9, 32)),
            Some(at(9, 20)),
            running(2, at(10, 2)),
            at(9, 40),
        );
        let spans: Vec<_> = log
            .closed
            .iter()
            .map(|run| {
                (
                    run.block,
                    run.kind,
                    run.started_at,
                    run.ended_at,
                    run.completed,
                )
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                (0, BlockKind::Work, at(9, 20), at(9, 32), true),
                (1, BlockKind::Break, at(9, 32), at(9, 37), true),
            ]
        );
        assert_eq!(log.running_since, Some(at(9, 37)));
    }

    #[test]
    fn a_skip_or_the_end_cuts_the_run_and_the_plan_running_out_completes_it() {
        let plan = pomodoro_plan();
        let skipped = runs_between(
            &plan,
            running(0, at(9, 25)),
            Some(at(9, 0)),
            running(1, at(9, 15)),
            at(9, 10),
        );
        assert!(!skipped.closed[0].completed);
        assert_eq!(skipped.closed[0].ended_at, at(9, 10));
        assert_eq!(skipped.running_since, Some(at(9, 10)));
        let ended = runs_between(
            &plan,
            running(2, at(10, 0)),
            Some(at(9, 35)),
            TimerPhase::Finished,
            at(9, 50),
        );
        assert_eq!(ended.closed.len(), 1);
        assert!(!ended.closed[0].completed);
        let last = i64::try_from(plan.len()).unwrap() - 1;
        let ran_out = runs_between(
            &plan,
            running(last, at(10, 30)),
            Some(at(10, 25)),
            TimerPhase::Finished,
            at(11, 0),
        );
        assert_eq!(ran_out.closed.len(), 1);
        assert!(ran_out.closed[0].completed);
        assert_eq!(ran_out.running_since, None);
    }

    fn work(
        session: &Id,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        completed: bool,
    ) -> SessionRun {
        SessionRun {
            session_id: session.clone(),
            run: Run {
                block: 0,
                kind: BlockKind::Work,
                started_at: from,
                ended_at: until,
                completed,
            },
        }
    }

    fn stay(session: &Id, from: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Stay {
        Stay {
            session_id: session.clone(),
            joined_at: from,
            left_at: until,
        }
    }

    #[test]
    fn focused_time_is_the_stay_during_work_and_a_block_counts_for_who_saw_it_end() {
        let session = Id::generate();
        let other = Id::generate();
        let utc = FixedOffset::east_opt(0).unwrap();
        let runs = [
            work(&session, at(9, 0), at(9, 25), true),
            work(&session, at(9, 30), at(9, 40), false),
            // A session this person was never in counts for nothing.
            work(&other, at(11, 0), at(11, 50), true),
        ];
        // Joined five minutes late, left in the second block.
        let stays = [stay(&session, at(9, 5), Some(at(9, 35)))];
        let today = at(12, 0).date_naive();
        let stats = stats(&stays, &runs, today, utc);
        assert_eq!(stats.today_minutes, 25);
        assert_eq!(stats.total_blocks, 1);
        assert_eq!(stats.streak_days, 1);
        // Someone who left before the block ended did not complete it.
        let left_early = [stay(&session, at(9, 0), Some(at(9, 20)))];
        let early = super::stats(&left_early, &runs, today, utc);
        assert_eq!((early.today_minutes, early.total_blocks), (20, 0));
        assert_eq!(early.streak_days, 0);
    }

    #[test]
    fn one_session_adds_up_the_same_way() {
        let session = Id::generate();
        let runs = [
            work(&session, at(9, 0), at(9, 25), true).run,
            work(&session, at(9, 30), at(9, 40), false).run,
        ];
        let stays = [
            stay(&session, at(9, 5), Some(at(9, 10))),
            stay(&session, at(9, 20), None),
        ];
        assert_eq!(in_session(&stays, &runs), ((5 + 5 + 10) * 60, 1));
        assert_eq!(in_session(&[], &runs), (0, 0));
    }

    #[test]
    fn a_streak_counts_days_in_a_row_up_to_today_or_yesterday() {
        let session = Id::generate();
        let utc = FixedOffset::east_opt(0).unwrap();
        let day = |back: i64| at(9, 0) - Duration::days(back);
        let runs: Vec<_> = [0, 1, 2, 4, 5, 6, 7]
            .iter()
            .map(|&back| work(&session, day(back), day(back) + Duration::minutes(25), true))
            .collect();
        let stays = [stay(&session, day(30), None)];
        let today = at(12, 0).date_naive();
        let with_today = stats(&stays, &runs, today, utc);
        assert_eq!(with_today.streak_days, 3);
        assert_eq!(with_today.longest_streak_days, 4);
        assert_eq!(with_today.days.len(), 7);
        // Before today's block, yesterday's streak still stands.
        let morning = stats(&stays, &runs[1..], today, utc);
        assert_eq!(morning.streak_days, 2);
        assert_eq!(morning.today_minutes, 0);
    }

    #[test]
    fn days_are_the_readers_and_a_block_across_midnight_is_split() {
        let session = Id::generate();
        let runs = [work(
            &session,
            at(23, 40),
            at(23, 40) + Duration::minutes(50),
            true,
        )];
        let stays = [stay(&session, at(23, 0), None)];
        let utc = FixedOffset::east_opt(0).unwrap();
        let tomorrow = at(12, 0).date_naive() + Duration::days(1);
        let in_utc = stats(&stays, &runs, tomorrow, utc);
        let minutes: Vec<_> = in_utc
            .days
            .iter()
            .map(|day| (day.minutes, day.blocks))
            .collect();
        assert_eq!(minutes, vec![(20, 0), (30, 1)]);
        // Two hours west, all of it is on the first day, in the evening.
        let west = utc_offset(-120).unwrap();
        let in_west = stats(&stays, &runs, tomorrow, west);
        let minutes: Vec<_> = in_west
            .days
            .iter()
            .map(|day| (day.minutes, day.blocks))
            .collect();
        assert_eq!(minutes, vec![(50, 1)]);
        assert_eq!(in_west.utc_offset_minutes, -120);
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_the_year_starts_on_a_monday() {
        let session = Id::generate();
        let utc = FixedOffset::east_opt(0).unwrap();
        // 30 November 2026 is a Monday.
        let runs = [
            work(&session, at(9, 0), at(9, 25), true),
            work(
                &session,
                at(9, 0) - Duration::days(1),
                at(9, 50) - Duration::days(1),
                true,
            ),
        ];
        let stays = [stay(&session, at(8, 0) - Duration::days(3), None)];
        let stats = stats(&stays, &runs, at(12, 0).date_naive(), utc);
        assert_eq!(stats.week_minutes, 25);
        let last_two: Vec<_> = stats.weeks[6..].iter().map(|week| week.minutes).collect();
        assert_eq!(last_two, vec![50, 25]);
        assert_eq!(stats.weeks.len(), STATS_WEEKS as usize);
        assert_eq!(stats.first_day().weekday(), chrono::Weekday::Mon);
        assert_eq!(stats.total_minutes, 75);
    }

    #[test]
    fn offsets_beyond_any_clock_are_refused() {
        assert!(utc_offset(14 * 60).is_some());
        assert!(utc_offset(-14 * 60 - 1).is_none());
        assert_eq!(
            parse_utc_offset(Some("-300")).unwrap().local_minus_utc(),
            -300 * 60
        );
        assert_eq!(parse_utc_offset(None).unwrap().local_minus_utc(), 0);
        for bad in ["841", "1.5", "", "east"] {
            assert!(parse_utc_offset(Some(bad)).is_err(), "{bad}");
        }
    }
}
