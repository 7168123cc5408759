//! `lockin-bench sfu`: what forwarding media costs our SFU, next to Janus's
//! VideoRoom doing the same on the same machine in the same run.
//!
//! For each room size (publishers × subscribers; every publisher also
//! subscribes, as in a real call) synthetic participants join, each a client
//! peer of the `sfu` crate on its own UDP socket ([`synthetic`]): publishers
//! send an Opus-like audio track (a packet every 20 ms) and a VP8-like video
//! track (30 frames a second, split into RTP packets), every payload stamped
//! with its sender, sequence number and send time. Once every forwarded
//! stream has delivered a frame, and after a warmup, the SFU's CPU time is
//! read before and after a fixed window; every frame sent in the window
//! counts towards latency (its write to the moment a subscriber holds it
//! whole, on one clock) and loss (never received).
//!
//! The same participants, sizes and media then go through Janus (Debian's
//! `janus`, VideoRoom plugin), signalled over its HTTP API: one session per
//! participant, a publisher handle that publishes both tracks, and a
//! subscriber handle for every other publisher's feeds in one peer
//! connection. Our figures are printed as ratios to Janus's.
//!
//! # How each SFU's CPU is read
//!
//! From `/proc`, utime + stime, the same way for both: Janus is its own
//! process (`/proc/<pid>/stat`, all its threads); our SFU runs in this
//! process on its media thread, as in `lockin serve`, which does nothing
//! else (`/proc/self/task/<tid>/stat`, found by the thread's name), so the
//! clients' CPU is never counted as the SFU's. The kernel charges a loopback send to the
//! sender, so each SFU pays for its own sends, and the clients for theirs.
//!
//! # Why Janus runs in a network namespace
//!
//! Janus never offers a candidate on a loopback interface (`ice.c` skips
//! `IFF_LOOPBACK`), and the bench must not send to any address off
//! loopback. So, when Janus is to be measured, the bench runs itself again
//! inside a network namespace of its own (`unshare --net`), gives a veth
//! interface there the loopback-range address 127.0.0.2, and has Janus
//! gather candidates on that alone. Nothing leaves the namespace. Our SFU
//! is measured in the same namespace; the one difference in the path is that
//! Janus's packets cross the veth pair (in the kernel, like loopback) where
//! ours go through `lo`.

pub mod synthetic;

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr},
    ops::Range,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sfu::{
    FANOUT_THREAD, JoinRequest, MEDIA_THREAD, PeerId, RoomId, Sfu, SfuConfig, SfuHandle, SfuThread,
    SignalIn, SignalOut, Sources,
};
use tokio::{
    process::Command,
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use synthetic::{Endpoint, MediaShape, Phase, RemoteOffer, Report, VIDEO_FPS};

#[derive(clap::Args, Debug)]
pub struct SfuBenchArgs {
    /// Room sizes, publishers×subscribers. Every publisher also subscribes;
    /// subscribers beyond the publishers only receive (`1x100`: a webinar,
    /// one speaker and 99 listeners).
    #[arg(long, value_delimiter = ',', default_value = "2x2,6x6,10x10,1x100", value_parser = RoomSize::parse)]
    pub rooms: Vec<RoomSize>,
    /// How long each SFU is measured in each room, after the warmup.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Media before measuring starts, once every stream flows (bandwidth
    /// estimates, keyframes).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Bytes of a VP8-like video frame (30 a second); keyframes, sent when
    /// asked for, are three times as large.
    #[arg(long, default_value_t = 2000)]
    pub video_frame_bytes: usize,
    /// The smallest Opus-like packet (one every 20 ms); sizes vary up to
    /// twice this.
    #[arg(long, default_value_t = 60)]
    pub audio_bytes: usize,
    /// Measure our SFU only.
    #[arg(long)]
    pub no_janus: bool,
    /// The Janus executable.
    #[arg(long, default_value = "janus")]
    pub janus: PathBuf,
    /// Instead of the grid: the most forwarded streams our SFU's one media
    /// thread (one core: its fan-out thread off) carries with loss under
    /// 0.5 % and p99 under 50 ms,
    /// found with webinar rooms (one publisher, listeners doubled until a
    /// room fails, then halved between the last pass and the first failure).
    #[arg(long)]
    pub capacity: bool,
}

/// What a room must do to count towards the capacity.
const CAPACITY_LOSS_PERCENT: f64 = 0.5;
const CAPACITY_P99_MS: f64 = 50.0;
/// Listeners in the first capacity room, and the most ever tried.
const CAPACITY_FIRST: usize = 50;
const CAPACITY_MOST: usize = 3200;
/// Halvings between the last room that passed and the first that failed.
const CAPACITY_REFINE: usize = 2;
/// mediasoup's own figure: consumers one worker (one core) carries.
const MEDIASOUP_CONSUMERS_PER_CORE: usize = 500;

/// One room of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomSize {
    pub publishers: usize,
    pub subscribers: usize,
}

impl RoomSize {
    /// `4x4` (or `4×4`): publishers, then subscribers, who include them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (publishers, subscribers) = text
            .split_once(['x', '×'])
            .ok_or_else(|| format!("{text:?} is not publishers×subscribers, e.g. 4x4"))?;
        let number = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("{n:?} in {text:?} is not a number"))
        };
        let size = Self {
            publishers: number(publishers)?,
            subscribers: number(subscribers)?,
        };
        if size.publishers < 1 || size.subscribers < 2 {
            return Err(format!("{text:?}: a room needs a publisher and two people"));
        }
        if size.subscribers < size.publishers {
            return Err(format!(
                "{text:?}: every publisher also subscribes, so subscribers ≥ publishers"
            ));
        }
        if size.subscribers > 200 {
            return Err(format!("{text:?}: at most 200 people"));
        }
        Ok(size)
    }

    /// (publisher, track, subscriber) triples the SFU forwards.
    pub fn streams(self) -> usize {
        2 * self.publishers * (self.subscribers - 1)
    }
}

impl std::fmt::Display for RoomSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}", self.publishers, self.subscribers)
    }
}

/// Set in the copy of the bench that runs inside its network namespace.
const NAMESPACE_ENV: &str = "LOCKIN_BENCH_SFU_NETNS";
/// Janus's one address, on a veth inside the namespace.
const JANUS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const JANUS_INTERFACE: &str = "lkjanus0";
const JANUS_HTTP_PORT: u16 = 8088;
/// The clients' and our SFU's address.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Every stream must have delivered a frame within this time after the last
/// join, or the room is measured as it is (the missing ones show as loss).
const FLOW_DEADLINE: Duration = Duration::from_secs(20);
/// After publishers stop, frames still in flight have this long to arrive.
const GRACE: Duration = Duration::from_secs(1);
/// A Janus request is answered within this time, or setup fails.
const JANUS_DEADLINE: Duration = Duration::from_secs(20);

pub async fn run_sfu(args: SfuBenchArgs) -> anyhow::Result<()> {
    ensure!(!args.rooms.is_empty(), "--rooms needs at least one room");
    ensure!(
        args.video_frame_bytes >= 64 && args.audio_bytes >= 24,
        "frames must hold their stamp: --video-frame-bytes ≥ 64, --audio-bytes ≥ 24"
    );
    if args.capacity {
        return run_capacity(&args).await;
    }
    let janus = match prepare_janus(&args).await? {
        Prepared::RanInNamespace => return Ok(()),
        Prepared::Ready => match JanusProcess::start(&args.janus).await {
            Ok(janus) => Ok(janus),
            Err(e) => Err(format!("Janus did not start: {e:#}")),
        },
        Prepared::Unavailable(reason) => Err(reason),
    };
    if let Err(reason) = &janus {
        eprintln!("!!! Janus is not measured: {reason}");
    }
    let shape = MediaShape {
        audio_bytes: args.audio_bytes,
        video_frame_bytes: args.video_frame_bytes,
    };
    let setting = Setting {
        args: &args,
        shape,
        ticks_per_second: clock_ticks_per_second().await,
    };

    let measured = async {
        let mut results = Vec::new();
        for &room in &args.rooms {
            eprintln!("{room}: measuring Lock In…");
            let ours = measure_ours(setting, room)
                .await
                .with_context(|| format!("measuring Lock In in a {room} room"))?;
            let theirs = match &janus {
                Ok(janus) => {
                    eprintln!("{room}: measuring Janus…");
                    let figures = measure_janus(janus, setting, room).await;
                    Some(figures.map_err(|e| format!("{e:#}")))
                }
                Err(_) => None,
            };
            results.push((room, ours, theirs));
        }
        anyhow::Ok(results)
    }
    .await;
    let janus_version = janus
        .as_ref()
        .map(|j| j.version.clone())
        .map_err(Clone::clone);
    if let Ok(janus) = janus {
        janus.stop().await;
    }
    let results = measured?;
    print_report(&args, janus_version, &results);
    Ok(())
}

/// `--capacity`: webinar rooms on our SFU alone, bigger until one fails.
async fn run_capacity(args: &SfuBenchArgs) -> anyhow::Result<()> {
    let setting = Setting {
        args,
        shape: MediaShape {
            audio_bytes: args.audio_bytes,
            video_frame_bytes: args.video_frame_bytes,
        },
        ticks_per_second: clock_ticks_per_second().await,
    };
    let passes = |f: &Figures| {
        f.tally.loss_percent() < CAPACITY_LOSS_PERCENT
            && f.tally.latency.value_at_quantile(0.99) as f64 / 1e3 < CAPACITY_P99_MS
    };
    let mut tried: Vec<(RoomSize, Figures)> = Vec::new();
    let mut try_room = async |listeners: usize| -> anyhow::Result<bool> {
        let room = RoomSize {
            publishers: 1,
            subscribers: listeners,
        };
        eprintln!("capacity: {room}…");
        let figures = measure_ours(setting, room)
            .await
            .with_context(|| format!("measuring Lock In in a {room} room"))?;
        let passed = passes(&figures);
        tried.push((room, figures));
        Ok(passed)
    };
    let mut passed: Option<usize> = None;
    let mut failed: Option<usize> = None;
    let mut listeners = CAPACITY_FIRST;
    while listeners <= CAPACITY_MOST {
        if try_room(listeners).await? {
            passed = Some(listeners);
            listeners *= 2;
        } else {
            failed = Some(listeners);
            break;
        }
    }
    if let (Some(mut low), Some(mut high)) = (passed, failed) {
        for _ in 0..CAPACITY_REFINE {
            let middle = (low + high) / 2;
            if middle == low {
                break;
            }
            if try_room(middle).await? {
                low = middle;
            } else {
                high = middle;
            }
        }
        passed = Some(low);
    }
    print_capacity(args, &tried, passed, failed.is_none());
    Ok(())
}

fn print_capacity(
    args: &SfuBenchArgs,
    tried: &[(RoomSize, Figures)],
    passed: Option<usize>,
    never_failed: bool,
) {
    let duration = humantime::format_duration(args.duration);
    let video_kbps = args.video_frame_bytes * 8 * VIDEO_FPS as usize / 1000;
    println!(
        "Lock In SFU capacity: webinar rooms (1 publisher of audio and ~{video_kbps} kbit/s video, N listeners), each {duration} measured; a room passes with loss < {CAPACITY_LOSS_PERCENT} % and p99 < {CAPACITY_P99_MS} ms"
    );
    println!(
        "our SFU forwards on one thread, so what it carries is what one core carries; the synthetic clients run on the other cores of this machine\n"
    );
    println!("| room   | streams | CPU % | p50 ms | p99 ms | loss % | passes |");
    println!("|--------|--------:|------:|-------:|-------:|-------:|--------|");
    let ms = |micros: u64| micros as f64 / 1e3;
    for (room, figures) in tried {
        let latency = &figures.tally.latency;
        let p99 = ms(latency.value_at_quantile(0.99));
        let loss = figures.tally.loss_percent();
        let passes = loss < CAPACITY_LOSS_PERCENT && p99 < CAPACITY_P99_MS;
        println!(
            "| {:<6} | {:>7} | {:>5.1} | {:>6.2} | {:>6.2} | {:>6.3} | {:<6} |",
            room.to_string(),
            figures.streams,
            figures.cores() * 100.0,
            ms(latency.value_at_quantile(0.5)),
            p99,
            loss,
            if passes { "yes" } else { "no" }
        );
    }
    let best = passed.and_then(|listeners| {
        tried
            .iter()
            .find(|(room, _)| room.subscribers == listeners)
            .map(|(room, figures)| (room, figures))
    });
    match best {
        Some((room, figures)) => {
            let more = if never_failed {
                format!(" (the most tried; {CAPACITY_MOST} listeners at most)")
            } else {
                String::new()
            };
            println!(
                "\ncapacity: {} forwarded streams ({room}){more}, the SFU's thread at {:.0} % of a core; mediasoup publishes ~{MEDIASOUP_CONSUMERS_PER_CORE} consumers per core: {:.2}×",
                figures.streams,
                figures.cores() * 100.0,
                figures.streams as f64 / MEDIASOUP_CONSUMERS_PER_CORE as f64
            );
            let first_failure = tried
                .iter()
                .filter(|(bigger, _)| bigger.subscribers > room.subscribers)
                .filter(|(_, f)| {
                    f.tally.loss_percent() >= CAPACITY_LOSS_PERCENT
                        || f.tally.latency.value_at_quantile(0.99) as f64 / 1e3 >= CAPACITY_P99_MS
                })
                .min_by_key(|(room, _)| room.subscribers);
            if let Some((failed, f)) = first_failure
                && f.cores() < 0.9
            {
                println!(
                    "in the smallest room that failed ({failed}) the SFU's thread used {:.0} % of a core: it had time to spare, so the limit was elsewhere on this shared machine (the clients, or a socket's buffer), and the capacity above is a lower bound",
                    f.cores() * 100.0
                );
            }
        }
        None => println!("\ncapacity: not even the first room ({CAPACITY_FIRST} listeners) passed"),
    }
}

// ----- what is measured -----

/// One SFU in one room.
#[derive(Debug)]
struct Figures {
    streams: usize,
    /// Streams that had delivered a frame when measuring started.
    flowing: usize,
    cpu: CpuTime,
    window: Duration,
    tally: Tally,
}

impl Figures {
    /// Cores' worth of CPU the SFU used: 1.0 is one core, all the time.
    fn cores(&self) -> f64 {
        self.cpu.seconds / self.window.as_secs_f64()
    }

    /// CPU milliseconds per second for each forwarded stream.
    fn per_stream_ms(&self) -> f64 {
        self.cores() * 1e3 / self.streams as f64
    }
}

/// Frames in the window, as the subscribers saw them.
#[derive(Debug)]
struct Tally {
    /// (subscriber, frame) pairs that should have arrived.
    expected: u64,
    received: u64,
    /// Microseconds from write to whole frame, per received pair.
    latency: Histogram<u64>,
    unreadable: u64,
}

impl Tally {
    fn loss_percent(&self) -> f64 {
        let lost = self.expected.saturating_sub(self.received);
        100.0 * lost as f64 / self.expected.max(1) as f64
    }
}

/// Counts the frames written in `window` (nanoseconds since the epoch) by
/// each publisher against what every other participant received.
/// `reports` holds each endpoint's report with its participant's number
/// (with Janus a participant has two endpoints).
fn tally(room: RoomSize, window: Range<u64>, reports: &[(usize, Report)]) -> Tally {
    let mut sent_in_window: HashMap<usize, u64> = HashMap::new();
    let mut unreadable = 0;
    for (participant, report) in reports {
        let sent = report.sent.iter();
        let in_window = sent.filter(|s| window.contains(&s.sent_nanos)).count();
        *sent_in_window.entry(*participant).or_default() += in_window as u64;
        unreadable += report.unreadable;
    }
    let mut latency = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let mut expected = 0;
    let mut received = 0;
    for subscriber in 0..room.subscribers {
        expected += (0..room.publishers)
            .filter(|&publisher| publisher != subscriber)
            .map(|publisher| sent_in_window.get(&publisher).copied().unwrap_or(0))
            .sum::<u64>();
        let mut seen = HashSet::new();
        let arrivals = reports
            .iter()
            .filter(|(participant, _)| *participant == subscriber)
            .flat_map(|(_, report)| &report.arrivals);
        for arrival in arrivals {
            let stamp = arrival.stamp;
            let from = usize::from(stamp.publisher);
            if from == subscriber || from >= room.publishers {
                continue;
            }
            if !window.contains(&stamp.sent_nanos) || !seen.insert(stamp) {
                continue;
            }
            received += 1;
            let micros = arrival.received_nanos.saturating_sub(stamp.sent_nanos) / 1000;
            latency.saturating_record(micros.max(1));
        }
    }
    Tally {
        expected,
        received,
        latency,
        unreadable,
    }
}

/// The endpoints of one SFU in one room, and the test's shared clock,
/// phase and progress.
struct Load {
    epoch: Instant,
    shape: MediaShape,
    phase: watch::Sender<Phase>,
    /// (publisher, track) pairs first heard, over all subscribers.
    heard: Arc<watch::Sender<usize>>,
    endpoints: Vec<(usize, JoinHandle<Report>)>,
}

impl Load {
    fn new(shape: MediaShape) -> Self {
        Self {
            epoch: Instant::now(),
            shape,
            phase: watch::channel(Phase::Sending).0,
            heard: Arc::new(watch::channel(0).0),
            endpoints: Vec::new(),
        }
    }

    /// An endpoint whose host candidate is the local address that reaches
    /// `server`. Both SFUs are given `LOOPBACK`, so every client sends from
    /// `lo` (Janus's 127.0.0.2 is reached from 127.0.0.1 too).
    async fn endpoint(&self, server: IpAddr) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::bind(server, self.epoch, self.shape, self.heard.clone()).await;
        endpoint.context("making a synthetic participant")
    }

    /// Runs a participant's endpoint; `offers` brings the SFU's
    /// renegotiations to it.
    fn spawn(
        &mut self,
        participant: usize,
        endpoint: Endpoint,
        offers: mpsc::UnboundedReceiver<RemoteOffer>,
    ) {
        let task = tokio::spawn(endpoint.run(offers, self.phase.subscribe()));
        self.endpoints.push((participant, task));
    }

    /// Waits for every stream, warms up, measures the window, lets frames
    /// in flight land, and tallies. `cpu` reads the SFU's CPU time.
    async fn measure(
        self,
        room: RoomSize,
        args: &SfuBenchArgs,
        cpu: &CpuClock,
    ) -> anyhow::Result<Figures> {
        let streams = room.streams();
        let mut heard = self.heard.subscribe();
        let all_flowing = heard.wait_for(|heard| *heard >= streams);
        if tokio::time::timeout(FLOW_DEADLINE, all_flowing)
            .await
            .is_err()
        {
            eprintln!(
                "    only {} of {streams} streams flowing after {FLOW_DEADLINE:?}; measuring anyway",
                *self.heard.borrow()
            );
        }
        let flowing = *self.heard.borrow();
        tokio::time::sleep(args.warmup).await;

        let (cpu_before, start) = (cpu.read()?, Instant::now());
        tokio::time::sleep(args.duration).await;
        let (cpu_after, end) = (cpu.read()?, Instant::now());
        self.phase.send_replace(Phase::Quiet);
        tokio::time::sleep(GRACE).await;
        self.phase.send_replace(Phase::Done);

        let mut reports = Vec::new();
        for (participant, task) in self.endpoints {
            let report = task.await.context("a synthetic participant panicked")?;
            reports.push((participant, report));
        }
        let nanos = |at: Instant| at.saturating_duration_since(self.epoch).as_nanos() as u64;
        Ok(Figures {
            streams,
            flowing,
            cpu: cpu.between(&cpu_before, &cpu_after),
            window: end - start,
            tally: tally(room, nanos(start)..nanos(end), &reports),
        })
    }
}

/// The CPU time of a process (all its threads) or of one thread, from
/// `/proc`: `base` is `/proc/<pid>` or `/proc/<pid>/task/<tid>`.
#[derive(Clone, Debug)]
struct CpuClock {
    /// `/proc/<pid>` (all its threads) or `/proc/self/task/<tid>` (one
    /// thread), each counted.
    bases: Vec<PathBuf>,
    ticks_per_second: f64,
}

/// One look at a [`CpuClock`].
#[derive(Debug)]
struct CpuReading {
    /// Nanoseconds on a CPU, per thread (`schedstat`): exact, but a thread
    /// that exits takes its time with it.
    by_thread: HashMap<String, u64>,
    /// utime + stime (`stat`), which keeps the time of exited threads but
    /// counts in clock ticks (10 ms).
    ticks: u64,
}

/// CPU time used between two readings.
#[derive(Debug, Clone, Copy)]
struct CpuTime {
    seconds: f64,
    /// A thread exited in between, so the time comes from clock ticks:
    /// good to ±20 ms rather than to the nanosecond.
    coarse: bool,
}

impl CpuClock {
    fn read(&self) -> anyhow::Result<CpuReading> {
        let mut ticks = 0;
        let mut threads: Vec<(String, PathBuf)> = Vec::new();
        for base in &self.bases {
            let stat = base.join("stat");
            let text = std::fs::read_to_string(&stat)
                .with_context(|| format!("reading {}", stat.display()))?;
            ticks += cpu_ticks(&text).with_context(|| format!("parsing {}", stat.display()))?;
            match std::fs::read_dir(base.join("task")) {
                Ok(tasks) => threads.extend(
                    tasks
                        .flatten()
                        .map(|task| (task.file_name().to_string_lossy().into_owned(), task.path())),
                ),
                // A thread's own directory has no `task` in it.
                Err(_) => threads.push((base.to_string_lossy().into_owned(), base.clone())),
            }
        }
        let by_thread = threads
            .into_iter()
            // A thread may exit between the listing and the read.
            .filter_map(|(tid, dir)| {
                let schedstat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
                let nanos = schedstat.split_whitespace().next()?.parse().ok()?;
                Some((tid, nanos))
            })
            .collect();
        Ok(CpuReading { by_thread, ticks })
    }

    fn between(&self, before: &CpuReading, after: &CpuReading) -> CpuTime {
        let all_stayed = before
            .by_thread
            .keys()
            .all(|tid| after.by_thread.contains_key(tid));
        if !all_stayed {
            let ticks = after.ticks.saturating_sub(before.ticks);
            return CpuTime {
                seconds: ticks as f64 / self.ticks_per_second,
                coarse: true,
            };
        }
        // Threads started in between count from zero.
        let nanos: u64 = after
            .by_thread
            .iter()
            .map(|(tid, &end)| end.saturating_sub(before.by_thread.get(tid).copied().unwrap_or(0)))
            .sum();
        CpuTime {
            seconds: nanos as f64 / 1e9,
            coarse: false,
        }
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/…/stat` line. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted
/// from the last `)`.
fn cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, rest) = stat.rsplit_once(')').context("no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state).
    let field = |n: usize| -> anyhow::Result<u64> {
        let text = fields.get(n - 3).context("too few fields")?;
        text.parse()
            .with_context(|| format!("field {n} is {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// The kernel's clock ticks per second for `/proc` times (`USER_HZ`).
async fn clock_ticks_per_second() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().await;
    let ticks = output
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok());
    // 100 on every Linux architecture in use.
    ticks.filter(|&t| t > 0.0).unwrap_or(100.0)
}

// ----- our SFU -----

/// Our SFU on its media thread, whose CPU time is its own.
struct OurSfu {
    handle: SfuHandle,
    cpu: CpuClock,
    media: SfuThread,
}

impl OurSfu {
    /// `fanout_thread`: [`SfuConfig::fanout_thread`].
    async fn start(ticks_per_second: f64, fanout_thread: bool) -> anyhow::Result<Self> {
        let config = SfuConfig {
            udp_listen: (LOOPBACK, 0).into(),
            fanout_thread,
            ..SfuConfig::default()
        };
        let sfu = Sfu::bind(config).context("binding the SFU")?;
        let handle = sfu.handle();
        let media = sfu.spawn().context("starting the SFU's media thread")?;
        Ok(Self {
            handle,
            cpu: CpuClock {
                bases: media_thread_dirs()?,
                ticks_per_second,
            },
            media,
        })
    }

    async fn stop(self) {
        self.media.stop().await;
    }
}

/// `/proc/self/task/<tid>` of the running SFU's threads (the bench runs one
/// SFU at a time): its media thread and its fan-out thread, found by name.
fn media_thread_dirs() -> anyhow::Result<Vec<PathBuf>> {
    let tasks = Path::new("/proc/self/task");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(tasks).context("listing this process's threads")? {
        let dir = entry?.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if [MEDIA_THREAD, FANOUT_THREAD].contains(&name.trim_end()) {
            found.push((name.trim_end().to_owned(), dir));
        }
    }
    let media = found
        .iter()
        .filter(|(name, _)| name == MEDIA_THREAD)
        .count();
    anyhow::ensure!(
        media == 1,
        "{media} threads named {MEDIA_THREAD}; expected one"
    );
    Ok(found.into_iter().map(|(_, dir)| dir).collect())
}

/// What every measurement shares: the arguments, the media each publisher
/// sends, and the clock CPU time is read by.
#[derive(Clone, Copy)]
struct Setting<'a> {
    args: &'a SfuBenchArgs,
    shape: MediaShape,
    ticks_per_second: f64,
}

async fn measure_ours(setting: Setting<'_>, room: RoomSize) -> anyhow::Result<Figures> {
    // The capacity is one core's: the fan-out thread stays off for it.
    let sfu = OurSfu::start(setting.ticks_per_second, !setting.args.capacity).await?;
    let measured = async {
        let room_id = RoomId::from("bench");
        let mut load = Load::new(setting.shape);
        for participant in 0..room.subscribers {
            let publisher = (participant < room.publishers).then_some(participant as u16);
            let mut endpoint = load.endpoint(LOOPBACK).await?;
            let offer_sdp = endpoint.offer(publisher)?;
            let peer_id = PeerId::new(format!("participant-{participant}"));
            let request = JoinRequest {
                peer_id: peer_id.clone(),
                name: format!("Participant {participant}"),
                offer_sdp,
                // Unnamed lines are the microphone and the camera.
                sources: Sources::new(),
                seat_limit: None,
                held: Vec::new(),
            };
            let joined = sfu.handle.join(room_id.clone(), request).await?;
            endpoint.accept_answer(&joined.answer_sdp)?;
            let (offers, offers_in) = mpsc::unbounded_channel();
            load.spawn(participant, endpoint, offers_in);
            let handle = sfu.handle.clone();
            let relay = relay_offers(handle, room_id.clone(), peer_id, joined.signals, offers);
            tokio::spawn(relay);
        }
        load.measure(room, setting.args, &sfu.cpu).await
    }
    .await;
    sfu.stop().await;
    measured
}

/// Carries the room's offers to a participant's endpoint and its answers
/// back, until the room lets the participant go.
async fn relay_offers(
    handle: SfuHandle,
    room: RoomId,
    peer: PeerId,
    mut signals: mpsc::UnboundedReceiver<SignalOut>,
    offers: mpsc::UnboundedSender<RemoteOffer>,
) {
    while let Some(signal) = signals.recv().await {
        match signal {
            SignalOut::Offer { sdp } => {
                let (answer, answered) = oneshot::channel();
                if offers.send(RemoteOffer { sdp, answer }).is_err() {
                    return;
                }
                let Ok(Ok(sdp)) = answered.await else { return };
                let signal = SignalIn::Answer { sdp };
                if handle
                    .signal(room.clone(), peer.clone(), signal)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            SignalOut::Closed { .. } => return,
            SignalOut::Answer { .. }
            | SignalOut::Tracks { .. }
            | SignalOut::Held { .. }
            | SignalOut::Speakers { .. } => {}
        }
    }
}

// ----- Janus -----

enum Prepared {
    /// Janus can run here: this copy of the bench is in its namespace.
    Ready,
    /// Janus cannot be measured, for this reason.
    Unavailable(String),
    /// The bench ran to the end in a copy of itself inside a namespace.
    RanInNamespace,
}

/// Finds out whether Janus can be measured, running the bench again inside
/// a network namespace when it is not in one yet (see the module docs).
async fn prepare_janus(args: &SfuBenchArgs) -> anyhow::Result<Prepared> {
    if args.no_janus {
        return Ok(Prepared::Unavailable("--no-janus".into()));
    }
    if find_program(&args.janus).is_none() {
        return Ok(Prepared::Unavailable(format!(
            "`{}` is not installed (scripts/janus-bench-setup installs Debian's janus package)",
            args.janus.display()
        )));
    }
    if std::env::var_os(NAMESPACE_ENV).is_some() {
        return Ok(match give_janus_an_address().await {
            Ok(()) => Prepared::Ready,
            Err(e) => Prepared::Unavailable(format!(
                "no address for Janus in the bench's network namespace: {e:#}"
            )),
        });
    }
    // As root a plain network namespace; otherwise one inside a user
    // namespace, where the bench is root too.
    for flags in [&["--net"][..], &["--net", "--map-root-user"]] {
        let probe = Command::new("unshare")
            .args(flags)
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if !probe.is_ok_and(|status| status.success()) {
            continue;
        }
        let bench = std::env::current_exe().context("finding the lockin-bench executable")?;
        let status = Command::new("unshare")
            .args(flags)
            .arg("--")
            .arg(bench)
            .args(std::env::args_os().skip(1))
            .env(NAMESPACE_ENV, "1")
            .status()
            .await
            .context("running the bench inside a network namespace")?;
        ensure!(
            status.success(),
            "the bench inside its network namespace failed ({status})"
        );
        return Ok(Prepared::RanInNamespace);
    }
    Ok(Prepared::Unavailable(
        "`unshare --net` is not allowed here, and Janus offers no loopback candidates, so it \
         cannot be reached on loopback"
            .into(),
    ))
}

/// Whether `program` is a file, or found on `PATH`.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Brings up loopback in the fresh namespace, and a veth whose address
/// (127.0.0.2) is the only one Janus gathers candidates on.
///
/// libnice pins each host candidate's socket to its interface
/// (`IP_UNICAST_IF`), so Janus's packets to the clients on 127.0.0.1 leave
/// through the veth and come back in at its other end: `route_localnet`
/// lets loopback addresses travel over a veth at all, `accept_local` lets
/// the far end take packets whose source is one of the namespace's own
/// addresses. Both are settings of this namespace only.
async fn give_janus_an_address() -> anyhow::Result<()> {
    let address = format!("{JANUS_IP}/32");
    let steps: [&[&str]; 5] = [
        &["link", "set", "lo", "up"],
        &[
            "link",
            "add",
            JANUS_INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            "lkjanus1",
        ],
        &["addr", "add", &address, "dev", JANUS_INTERFACE],
        &["link", "set", JANUS_INTERFACE, "up"],
        &["link", "set", "lkjanus1", "up"],
    ];
    for step in steps {
        let output = Command::new("ip")
            .args(step)
            .output()
            .await
            .context("running `ip`")?;
        ensure!(
            output.status.success(),
            "`ip {}` failed: {}",
            step.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    for setting in ["route_localnet", "accept_local"] {
        let path = format!("/proc/sys/net/ipv4/conf/all/{setting}");
        std::fs::write(&path, "1").with_context(|| format!("setting {path}"))?;
    }
    Ok(())
}

/// Janus, started by the bench with a configuration of its own.
struct JanusProcess {
    child: tokio::process::Child,
    dir: PathBuf,
    api: String,
    version: String,
    pid: u32,
    http: reqwest::Client,
}

impl JanusProcess {
    async fn start(program: &Path) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("lockin-janus-{}", uuid::Uuid::new_v4()));
        write_janus_config(&dir)?;
        let log = dir.join("janus.log");
        let mut child = Command::new(program)
            .arg("--configs-folder")
            .arg(&dir)
            .arg("--config")
            .arg(dir.join("janus.jcfg"))
            .arg("--disable-stdout")
            .arg("--log-file")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", program.display()))?;
        let pid = child.id().context("Janus exited at once")?;
        let api = format!("http://127.0.0.1:{JANUS_HTTP_PORT}/janus");
        let http = reqwest::Client::new();
        let started = Instant::now();
        let version = loop {
            if let Some(status) = child.try_wait()? {
                bail!("Janus exited ({status}); its log:\n{}", log_tail(&log));
            }
            let info = http.get(format!("{api}/info")).send().await;
            if let Ok(response) = info
                && let Ok(info) = response.json::<Value>().await
            {
                break info["version_string"].as_str().unwrap_or("?").to_owned();
            }
            if started.elapsed() > JANUS_DEADLINE {
                bail!(
                    "Janus did not answer on {api}; its log:\n{}",
                    log_tail(&log)
                );
            }
            // Nothing to wait on but its HTTP port.
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Ok(Self {
            child,
            dir,
            api,
            version,
            pid,
            http,
        })
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Where Debian's package put Janus's plugins, read from its own
/// configuration.
fn janus_folders() -> [(&'static str, String); 4] {
    let installed = std::fs::read_to_string("/etc/janus/janus.jcfg").unwrap_or_default();
    ["plugins", "transports", "events", "loggers"].map(|kind| {
        let key = format!("{kind}_folder");
        let configured = installed.lines().find_map(|line| {
            let (name, value) = line.trim().split_once('=')?;
            (name.trim() == key).then_some(())?;
            let value = value.split('#').next()?.trim().trim_matches('"');
            (!value.is_empty()).then(|| value.to_owned())
        });
        let default = format!("/usr/lib/x86_64-linux-gnu/janus/{kind}");
        (kind, configured.unwrap_or(default))
    })
}

/// Janus's configuration for the bench: the VideoRoom plugin and the HTTP
/// transport only, candidates on 127.0.0.2 only, no session timeout (the
/// bench's long polls are its keepalive anyway), rooms made through the API.
fn write_janus_config(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).context("making Janus's config dir")?;
    let folders = janus_folders();
    let keep = ["libjanus_videoroom.so", "libjanus_http.so"];
    let mut lines = vec![
        "general: {".to_owned(),
        format!("\tconfigs_folder = \"{}\"", dir.display()),
    ];
    let mut disable = Vec::new();
    for (kind, folder) in &folders {
        lines.push(format!("\t{kind}_folder = \"{folder}\""));
        let entries = std::fs::read_dir(folder).into_iter().flatten().flatten();
        let names = entries.map(|entry| entry.file_name().to_string_lossy().into_owned());
        let unwanted = names.filter(|n| n.ends_with(".so") && !keep.contains(&n.as_str()));
        disable.push((*kind, unwanted.collect::<Vec<_>>().join(",")));
    }
    lines.extend([
        "\tdebug_level = 4".to_owned(),
        "\tsession_timeout = 0".to_owned(),
        "}".to_owned(),
        "certificates: {}".to_owned(),
        "media: {}".to_owned(),
        format!("nat: {{\n\tice_enforce_list = \"{JANUS_IP}\"\n\tignore_mdns = true\n}}"),
    ]);
    for (kind, names) in disable {
        let section = match kind {
            "plugins" => "plugins",
            "transports" => "transports",
            "events" => "events",
            _ => "loggers",
        };
        lines.push(format!("{section}: {{\n\tdisable = \"{names}\"\n}}"));
    }
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
    };
    write("janus.jcfg", lines.join("\n") + "\n")?;
    write(
        "janus.transport.http.jcfg",
        format!(
            "general: {{\n\tjson = \"plain\"\n\tbase_path = \"/janus\"\n\thttp = true\n\tport = {JANUS_HTTP_PORT}\n\tip = \"127.0.0.1\"\n\thttps = false\n}}\nadmin: {{\n\tadmin_http = false\n}}\n"
        ),
    )?;
    write("janus.plugin.videoroom.jcfg", "general: {\n}\n".to_owned())
}

/// One Janus session (a participant's), with its long poll for events.
struct JanusSession {
    http: reqwest::Client,
    url: String,
    /// Requests waiting for their event, by transaction.
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
    /// Handles whose peer connection is up (Janus's `webrtcup`).
    up: watch::Receiver<HashSet<u64>>,
    poller: JoinHandle<()>,
}

impl JanusSession {
    async fn create(janus: &JanusProcess) -> anyhow::Result<Self> {
        let created = janus_post(&janus.http, &janus.api, json!({"janus": "create"})).await?;
        let id = created["data"]["id"]
            .as_u64()
            .context("Janus made a session without an id")?;
        let url = format!("{}/{id}", janus.api);
        let waiting = Arc::new(Mutex::new(HashMap::new()));
        let (up_sender, up) = watch::channel(HashSet::new());
        let events = SessionEvents {
            waiting: waiting.clone(),
            up: up_sender,
        };
        let poller = tokio::spawn(long_poll(janus.http.clone(), url.clone(), events));
        Ok(Self {
            http: janus.http.clone(),
            url,
            waiting,
            up,
            poller,
        })
    }

    /// A handle on the VideoRoom plugin.
    async fn attach(&self) -> anyhow::Result<u64> {
        let body = json!({"janus": "attach", "plugin": "janus.plugin.videoroom"});
        let attached = janus_post(&self.http, &self.url, body).await?;
        attached["data"]["id"]
            .as_u64()
            .context("Janus attached a handle without an id")
    }

    /// A plugin request Janus answers at once (`create`, `destroy`).
    async fn ask(&self, handle: u64, body: Value) -> anyhow::Result<Value> {
        let message = json!({"janus": "message", "body": body});
        let answer = janus_post(&self.http, &format!("{}/{handle}", self.url), message).await?;
        plugin_data(&answer)
    }

    /// A plugin request answered by an event (`join`, `publish`, `start`):
    /// its data, and the SDP it carries, if any.
    async fn request(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<(Value, Option<String>)> {
        let transaction = uuid::Uuid::new_v4().simple().to_string();
        let (reply, event) = oneshot::channel();
        self.waiting
            .lock()
            .expect("waiting lock")
            .insert(transaction.clone(), reply);
        let mut message = json!({"janus": "message", "body": body, "transaction": transaction});
        if let Some(jsep) = jsep {
            message["jsep"] = jsep;
        }
        let url = format!("{}/{handle}", self.url);
        let answer = janus_post_as(&self.http, &url, message).await?;
        ensure!(answer["janus"] == "ack", "Janus answered {answer}");
        let event = tokio::time::timeout(JANUS_DEADLINE, event)
            .await
            .context("no event from Janus in time")?
            .context("Janus's event stream ended")?;
        let data = plugin_data(&event)?;
        let sdp = event["jsep"]["sdp"].as_str().map(str::to_owned);
        Ok((data, sdp))
    }

    /// Waits until a handle's peer connection is up: Janus has no feed to
    /// subscribe to before its publisher's is.
    async fn connected(&self, handle: u64) -> anyhow::Result<()> {
        let mut up = self.up.clone();
        let connected = up.wait_for(|up| up.contains(&handle));
        tokio::time::timeout(JANUS_DEADLINE, connected)
            .await
            .context("a publisher's peer connection to Janus did not come up in time")?
            .context("Janus's event stream ended")?;
        Ok(())
    }

    /// Says that all of this side's candidates were in its SDP.
    async fn candidates_done(&self, handle: u64) -> anyhow::Result<()> {
        let body = json!({"janus": "trickle", "candidate": {"completed": true}});
        janus_post(&self.http, &format!("{}/{handle}", self.url), body).await?;
        Ok(())
    }

    async fn destroy(self) {
        let _ = janus_post(&self.http, &self.url, json!({"janus": "destroy"})).await;
        self.poller.abort();
    }
}

/// POSTs a Janus API request with a fresh transaction; a Janus `error` is
/// an error.
async fn janus_post(http: &reqwest::Client, url: &str, mut body: Value) -> anyhow::Result<Value> {
    body["transaction"] = uuid::Uuid::new_v4().simple().to_string().into();
    janus_post_as(http, url, body).await
}

async fn janus_post_as(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let request = body["janus"].as_str().unwrap_or("?").to_owned();
    let answer: Value = http
        .post(url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url} ({request})"))?
        .json()
        .await
        .with_context(|| format!("reading Janus's answer to {request}"))?;
    if answer["janus"] == "error" {
        bail!("Janus refused {request}: {}", answer["error"]);
    }
    Ok(answer)
}

/// The VideoRoom's answer in a Janus message, or its error.
fn plugin_data(message: &Value) -> anyhow::Result<Value> {
    let data = &message["plugindata"]["data"];
    if let Some(error) = data["error"].as_str() {
        bail!("the VideoRoom refused: {error} ({})", data["error_code"]);
    }
    ensure!(data.is_object(), "no VideoRoom answer in {message}");
    Ok(data.clone())
}

/// Where the long poll puts a session's events.
struct SessionEvents {
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
    up: watch::Sender<HashSet<u64>>,
}

/// Hands each event of a session to the request waiting for it, and notes
/// connections coming up, until the session goes.
async fn long_poll(http: reqwest::Client, url: String, events: SessionEvents) {
    loop {
        let response = http.get(format!("{url}?maxev=10")).send().await;
        let Ok(response) = response else { return };
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let batch = match body {
            Value::Array(batch) => batch,
            event => vec![event],
        };
        for event in batch {
            if event["janus"] == "error" {
                return;
            }
            if event["janus"] == "webrtcup"
                && let Some(handle) = event["sender"].as_u64()
            {
                events.up.send_modify(|up| {
                    up.insert(handle);
                });
            }
            let Some(transaction) = event["transaction"].as_str() else {
                continue;
            };
            let waiter = events
                .waiting
                .lock()
                .expect("waiting lock")
                .remove(transaction);
            if let Some(waiter) = waiter {
                let _ = waiter.send(event);
            }
        }
    }
}

async fn measure_janus(
    janus: &JanusProcess,
    setting: Setting<'_>,
    room: RoomSize,
) -> anyhow::Result<Figures> {
    let admin = JanusSession::create(janus).await?;
    let mut sessions = Vec::new();
    let room_id = u64::from(rand::random::<u32>());
    let measured = async {
        let admin_handle = admin.attach().await?;
        let create = json!({"request": "create", "room": room_id, "publishers": room.publishers,
            "audiocodec": "opus", "videocodec": "vp8", "bitrate": 0, "fir_freq": 0,
            "notify_joining": false, "permanent": false});
        admin
            .ask(admin_handle, create)
            .await
            .context("making the room")?;

        let mut load = Load::new(setting.shape);
        for _ in 0..room.subscribers {
            sessions.push(JanusSession::create(janus).await?);
        }
        // Janus never renegotiates here: nothing comes on `offers`.
        let no_offers = || mpsc::unbounded_channel().1;
        let mut publishing = Vec::new();
        for (participant, session) in sessions.iter().enumerate().take(room.publishers) {
            let handle = session.attach().await?;
            let join = json!({"request": "join", "ptype": "publisher", "room": room_id,
                "id": participant + 1, "display": format!("participant-{participant}")});
            session.request(handle, join, None).await?;
            let mut endpoint = load.endpoint(LOOPBACK).await?;
            let offer = endpoint.offer(Some(participant as u16))?;
            let jsep = json!({"type": "offer", "sdp": offer});
            let publish = json!({"request": "publish"});
            let (_, answer) = session.request(handle, publish, Some(jsep)).await?;
            let answer = answer.context("Janus published without an answer")?;
            endpoint.accept_answer(&answer)?;
            session.candidates_done(handle).await?;
            load.spawn(participant, endpoint, no_offers());
            publishing.push(handle);
        }
        for (session, &handle) in sessions.iter().zip(&publishing) {
            session.connected(handle).await?;
        }
        for (participant, session) in sessions.iter().enumerate() {
            let feeds: Vec<Value> = (0..room.publishers)
                .filter(|&publisher| publisher != participant)
                .map(|publisher| json!({"feed": publisher + 1}))
                .collect();
            if feeds.is_empty() {
                continue;
            }
            let handle = session.attach().await?;
            let join = json!({"request": "join", "ptype": "subscriber", "room": room_id,
                "streams": feeds});
            let (_, offer) = session.request(handle, join, None).await?;
            let offer = offer.context("Janus subscribed without an offer")?;
            let mut endpoint = load.endpoint(LOOPBACK).await?;
            let answer = endpoint.accept_offer(&offer)?;
            let jsep = json!({"type": "answer", "sdp": answer});
            session
                .request(handle, json!({"request": "start"}), Some(jsep))
                .await?;
            session.candidates_done(handle).await?;
            load.spawn(participant, endpoint, no_offers());
        }
        let cpu = CpuClock {
            bases: vec![PathBuf::from(format!("/proc/{}", janus.pid))],
            ticks_per_second: setting.ticks_per_second,
        };
        let figures = load.measure(room, setting.args, &cpu).await?;
        let destroy = json!({"request": "destroy", "room": room_id});
        admin.ask(admin_handle, destroy).await?;
        anyhow::Ok(figures)
    }
    .await;
    for session in sessions {
        session.destroy().await;
    }
    admin.destroy().await;
    measured
}

// ----- the report -----

type Outcome = (RoomSize, Figures, Option<Result<Figures, String>>);

fn print_report(args: &SfuBenchArgs, janus: Result<String, String>, results: &[Outcome]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let duration = humantime::format_duration(args.duration);
    let warmup = humantime::format_duration(args.warmup);
    let against = match &janus {
        Ok(version) => format!("Janus {version} VideoRoom"),
        Err(_) => "nothing (Janus not measured)".to_owned(),
    };
    let video_kbps = args.video_frame_bytes * 8 * VIDEO_FPS as usize / 1000;
    println!(
        "Lock In SFU vs {against}: each room {duration} measured after {warmup} warmup, {cores} cores"
    );
    println!(
        "media per publisher: Opus-like audio, a {}–{} B packet every 20 ms; VP8-like video, {VIDEO_FPS} frames/s of {} B (~{video_kbps} kbit/s), keyframes 3× when asked",
        args.audio_bytes,
        2 * args.audio_bytes,
        args.video_frame_bytes
    );
    println!(
        "rooms: publishers×subscribers, every publisher also subscribes; streams = (publisher, track, subscriber) forwarded"
    );
    println!(
        "CPU: the SFU's own time on a CPU, per thread from /proc/…/schedstat (ours: its media and fan-out threads; Janus: all its threads); 100 % = one core; per stream = CPU ms per second per forwarded stream"
    );
    println!(
        "latency: publisher writes the frame → subscriber holds it whole (one clock); loss: frames written in the window never received"
    );
    println!(
        "synthetic clients share the cores with the SFU under test; ratio = Lock In / Janus (below 1: ours is cheaper or faster)\n"
    );
    println!(
        "| room  | SFU     | streams | flowing |  frames | CPU % | per stream ms/s | p50 ms | p99 ms | max ms | loss % |"
    );
    println!(
        "|-------|---------|--------:|--------:|--------:|------:|----------------:|-------:|-------:|-------:|-------:|"
    );
    let ms = |micros: u64| micros as f64 / 1e3;
    let row = |room: &RoomSize, name: &str, f: &Figures| {
        let latency = &f.tally.latency;
        println!(
            "| {:<5} | {name:<7} | {:>7} | {:>7} | {:>7} | {:>5.1} | {:>15.3} | {:>6.2} | {:>6.2} | {:>6.2} | {:>6.3} |",
            room.to_string(),
            f.streams,
            f.flowing,
            f.tally.expected,
            f.cores() * 100.0,
            f.per_stream_ms(),
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max()),
            f.tally.loss_percent(),
        );
    };
    for (room, ours, theirs) in results {
        row(room, "Lock In", ours);
        match theirs {
            Some(Ok(theirs)) => {
                row(room, "Janus", theirs);
                let ratio = |a: f64, b: f64| {
                    if b > 0.0 {
                        format!("{:.2}x", a / b)
                    } else if a == 0.0 {
                        "=".to_owned()
                    } else {
                        "n/a".to_owned()
                    }
                };
                let quantile = |f: &Figures, q| f.tally.latency.value_at_quantile(q) as f64;
                println!(
                    "| {:<5} | ratio   |         |         |         | {:>5} | {:>15} | {:>6} | {:>6} | {:>6} | {:>6} |",
                    room.to_string(),
                    ratio(ours.cores(), theirs.cores()),
                    ratio(ours.per_stream_ms(), theirs.per_stream_ms()),
                    ratio(quantile(ours, 0.5), quantile(theirs, 0.5)),
                    ratio(quantile(ours, 0.99), quantile(theirs, 0.99)),
                    ratio(
                        ours.tally.latency.max() as f64,
                        theirs.tally.latency.max() as f64
                    ),
                    ratio(ours.tally.loss_percent(), theirs.tally.loss_percent()),
                );
            }
            Some(Err(error)) => println!("| {:<5} | Janus   | failed: {error} |", room.to_string()),
            None => {}
        }
    }
    if let Err(reason) = janus {
        println!("\n!!! Janus was not measured: {reason}");
    }
    for (room, ours, theirs) in results {
        let janus = theirs.as_ref().and_then(|t| t.as_ref().ok());
        for (name, figures) in [("Lock In", Some(ours)), ("Janus", janus)] {
            let Some(figures) = figures else { continue };
            if figures.flowing < figures.streams {
                println!(
                    "!!! {room} {name}: only {} of {} streams had delivered a frame when measuring began",
                    figures.flowing, figures.streams
                );
            }
            if figures.cpu.coarse {
                println!(
                    "!!! {room} {name}: a thread of the SFU exited during the window; its CPU comes from clock ticks (±20 ms)"
                );
            }
            if figures.tally.unreadable > 0 {
                println!(
                    "!!! {room} {name}: {} received frames carried no stamp",
                    figures.tally.unreadable
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sfu::TrackKind;

    use super::synthetic::{Arrival, Sent, Stamp};

    use super::*;

    #[test]
    fn room_sizes_parse_and_count_streams() {
        let room = RoomSize::parse("4x4").unwrap();
        assert_eq!((room.publishers, room.subscribers), (4, 4));
        // Four publishers, two tracks each, three others to receive them.
        assert_eq!(room.streams(), 24);
        assert_eq!(RoomSize::parse("2×10").unwrap().streams(), 36);
        assert!(RoomSize::parse("4").is_err());
        assert!(RoomSize::parse("5x4").is_err());
        assert!(RoomSize::parse("1x1").is_err());
        assert!(RoomSize::parse("ax2").is_err());
    }

    #[test]
    fn cpu_ticks_count_from_the_last_parenthesis() {
        let stat =
            "4242 (janus (main)) S 1 4242 4242 0 -1 4194304 1234 0 0 0 150 37 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks(stat).unwrap(), 187);
        assert!(cpu_ticks("4242 (janus) S 1").is_err());
    }

    fn reading(threads: &[(&str, u64)], ticks: u64) -> CpuReading {
        CpuReading {
            by_thread: threads.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
            ticks,
        }
    }

    #[test]
    fn cpu_time_is_exact_unless_a_thread_exited() {
        let clock = CpuClock {
            bases: vec![PathBuf::from("/proc/1")],
            ticks_per_second: 100.0,
        };
        let before = reading(&[("1", 1_000_000_000), ("2", 500_000_000)], 150);
        // Thread 3 started in between: all of its time counts.
        let after = reading(
            &[("1", 1_250_000_000), ("2", 500_000_000), ("3", 5_000_000)],
            177,
        );
        let time = clock.between(&before, &after);
        assert!(!time.coarse);
        assert!((time.seconds - 0.255).abs() < 1e-9);
        // Thread 2 exited: clock ticks, which keep its time.
        let after = reading(&[("1", 1_250_000_000)], 180);
        let time = clock.between(&before, &after);
        assert!(time.coarse);
        assert!((time.seconds - 0.3).abs() < 1e-9);
    }

    fn sent(kind: TrackKind, seq: u32, at: u64) -> Sent {
        Sent {
            kind,
            seq,
            sent_nanos: at,
        }
    }

    fn arrival(publisher: u16, kind: TrackKind, seq: u32, sent: u64, delay: u64) -> Arrival {
        Arrival {
            stamp: Stamp {
                publisher,
                kind,
                seq,
                sent_nanos: sent,
            },
            received_nanos: sent + delay,
        }
    }

    /// The report of an endpoint that only subscribes.
    fn receiving_only(arrivals: Vec<Arrival>, unreadable: u64) -> Report {
        Report {
            sent: vec![],
            arrivals,
            unreadable,
        }
    }

    #[test]
    fn the_tally_counts_the_window_for_everyone_but_the_sender() {
        let room = RoomSize::parse("2x3").unwrap();
        let audio = TrackKind::Audio;
        let video = TrackKind::Video;
        // Publisher 0 writes three frames, the first before the window.
        let publisher_0 = Report {
            sent: vec![sent(audio, 0, 5), sent(audio, 1, 10), sent(video, 0, 20)],
            // Its own frames never count for it.
            arrivals: vec![arrival(0, audio, 1, 10, 1_000)],
            unreadable: 0,
        };
        // Publisher 1 writes one frame; its subscriber endpoint gets both of
        // 0's frames in the window, one twice, and one from before it.
        let publisher_1 = Report {
            sent: vec![sent(video, 0, 15)],
            arrivals: vec![],
            unreadable: 0,
        };
        let subscriber_1 = receiving_only(
            vec![
                arrival(0, audio, 0, 5, 1_000),
                arrival(0, audio, 1, 10, 2_000_000),
                arrival(0, audio, 1, 10, 3_000_000),
                arrival(0, video, 0, 20, 4_000_000),
            ],
            1,
        );
        // Participant 2 only subscribes, and misses 0's video.
        let subscriber_2 = receiving_only(
            vec![
                arrival(0, audio, 1, 10, 1_000_000),
                arrival(1, video, 0, 15, 1_000_000),
            ],
            0,
        );
        let reports = [
            (0, publisher_0),
            (1, publisher_1),
            (1, subscriber_1),
            (2, subscriber_2),
        ];
        let tally = tally(room, 10..100, &reports);
        // 0 gets 1's frame; 1 gets 0's two; 2 gets all three.
        assert_eq!(tally.expected, 1 + 2 + 3);
        assert_eq!(tally.received, 2 + 2);
        assert_eq!(tally.latency.len(), 4);
        assert_eq!(tally.latency.max() / 1000, 4);
        assert_eq!(tally.unreadable, 1);
        assert!((tally.loss_percent() - 100.0 / 3.0).abs() < 1e-9);
    }
}
