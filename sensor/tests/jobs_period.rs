//! Period inference on synthetic schedules (jitter, missed polls, retries, two cadences,
//! aperiodic traffic, cadence changes), on request times taken from real captures, and
//! property tests.

#![allow(clippy::panic)]

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sensor::jobs::period::{Cadence, Observation, PeriodConfig, PeriodEstimate, PeriodEstimator};

const S: u64 = 1_000_000;
/// A plausible capture start (2024-01-01), so nothing sits near zero.
const T0: u64 = 1_704_067_200 * S;

fn run(times: &[u64]) -> (PeriodEstimator, Vec<Observation>) {
    let mut est = PeriodEstimator::default();
    let obs = times.iter().map(|&t| est.observe(t)).collect();
    (est, obs)
}

fn periodic(est: &PeriodEstimator) -> PeriodEstimate {
    match est.estimate() {
        Some(e) => e,
        None => panic!("not periodic: {:?}", est.cadence()),
    }
}

fn rel_err(got: u64, want: f64) -> f64 {
    (got as f64 - want).abs() / want
}

/// A master whose timer is re-armed after each poll: every interval is `period·(1 ± j)`.
fn interval_jitter(period: u64, j: f64, n: usize, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut t = T0;
    (0..n)
        .map(|_| {
            let now = t;
            t += (period as f64 * (1.0 + rng.gen_range(-j..=j))) as u64;
            now
        })
        .collect()
}

/// A master driven by a fixed clock: poll `i` leaves at `i·period ± j·period`.
fn clock_jitter(period: u64, j: f64, n: usize, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n as u64)
        .map(|i| {
            let e = period as f64 * rng.gen_range(-j..=j);
            (T0 as f64 + (i * period) as f64 + e) as u64
        })
        .collect()
}

/// Merges schedules into one timeline, as the sensor would see one signature.
fn merge(mut parts: Vec<Vec<u64>>) -> Vec<u64> {
    let mut all: Vec<u64> = parts.drain(..).flatten().collect();
    all.sort_unstable();
    all
}

/// Observations after the estimator became periodic that a job engine would call late.
fn off_grid_count(obs: &[Observation]) -> usize {
    obs.iter().filter(|o| matches!(o, Observation::OffGrid | Observation::AfterGap)).count()
}

#[test]
fn exact_periods() {
    for period in [100_000, 250_000, S, 5 * S, 60 * S, 600 * S] {
        let times: Vec<u64> = (0..80).map(|i| T0 + i * period).collect();
        let (est, obs) = run(&times);
        let e = periodic(&est);
        assert_eq!(e.period_us, period);
        assert_eq!(e.jitter_us, 0);
        assert_eq!(e.secondary_period_us, None);
        assert!(e.confidence > 0.99);
        assert_eq!(off_grid_count(&obs), 0);
    }
}

#[test]
fn jitter_1_5_10_percent() {
    for (j, max_err) in [(0.01, 0.005), (0.05, 0.02), (0.10, 0.02)] {
        for period in [100_000, S, 10 * S, 60 * S] {
            for seed in 0..5 {
                for (model, times) in
                    [("interval", interval_jitter(period, j, 200, seed)), ("clock", clock_jitter(period, j, 200, seed))]
                {
                    let (est, obs) = run(&times);
                    let e = periodic(&est);
                    let ctx = format!("{model} jitter {j} period {period} seed {seed}: {e:?}");
                    assert!(rel_err(e.period_us, period as f64) <= max_err, "{ctx}");
                    // The reported jitter is of the right size...
                    let jit = e.jitter_us as f64 / period as f64;
                    assert!(jit <= 2.5 * j && jit >= 0.3 * j, "{ctx}");
                    // ...and the on-time window holds every poll: no false late poll.
                    let late = off_grid_count(&obs);
                    assert_eq!(late, 0, "{ctx}");
                    assert!(e.confidence > 0.5, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn five_percent_missed_polls() {
    for seed in 0..10 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let times: Vec<u64> = clock_jitter(S, 0.01, 400, seed).into_iter().filter(|_| rng.gen_bool(0.95)).collect();
        let (est, obs) = run(&times);
        let e = periodic(&est);
        assert!(rel_err(e.period_us, S as f64) < 0.005, "seed {seed}: {e:?}");
        assert!(obs.contains(&Observation::OnTime { skipped: 1 }));
        assert_eq!(off_grid_count(&obs), 0, "seed {seed}");
        assert_eq!(e.secondary_period_us, None);
    }
}

#[test]
fn retries() {
    for seed in 0..10 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut times = Vec::new();
        for t in clock_jitter(S, 0.01, 400, seed) {
            times.push(t);
            if rng.gen_bool(0.1) {
                times.push(t + rng.gen_range(20_000..200_000));
            }
        }
        let (est, obs) = run(&times);
        let e = periodic(&est);
        assert!(rel_err(e.period_us, S as f64) < 0.005, "seed {seed}: {e:?}");
        assert!(obs.contains(&Observation::Early));
        assert_eq!(off_grid_count(&obs), 0, "seed {seed}");
        assert_eq!(e.secondary_period_us, None, "seed {seed}: random retries");
    }
}

/// ndpi_modbus.pcap, 192.168.110.131 → 192.168.110.138 unit 1 FC3 address 0 (tshark agrees:
/// requests every ~1.0014 s, one 75 ms late, three back to back at the end of the capture).
const NDPI_FC3: [u64; 27] = [
    1223541953929171,
    1223541954944313,
    1223541955932046,
    1223541956933457,
    1223541957934919,
    1223541958936786,
    1223541959937804,
    1223541960939284,
    1223541961940187,
    1223541962942073,
    1223541963943548,
    1223541964944955,
    1223541966020144,
    1223541967018265,
    1223541968019676,
    1223541969020966,
    1223541970022708,
    1223541971023844,
    1223541972025310,
    1223541973026936,
    1223541974028201,
    1223541975029559,
    1223541976031000,
    1223541977032496,
    1223541977034105,
    1223541977035426,
    1223541977036283,
];

/// modbus_test.pcap, 192.168.0.144 → 192.168.0.20 unit 1 FC4 input registers 0–7, every 1.0 s.
const MODBUS_TEST_FC4: [u64; 59] = [
    1493388782589804,
    1493388783589786,
    1493388784589813,
    1493388785589833,
    1493388786589830,
    1493388787589859,
    1493388788589856,
    1493388789589872,
    1493388790589904,
    1493388791591154,
    1493388792591156,
    1493388793584615,
    1493388794587268,
    1493388795587240,
    1493388796587291,
    1493388797587307,
    1493388798587328,
    1493388799587324,
    1493388800593764,
    1493388801593807,
    1493388802590877,
    1493388803588410,
    1493388804588358,
    1493388805588375,
    1493388806588397,
    1493388807588430,
    1493388808588472,
    1493388809595369,
    1493388810595401,
    1493388811590479,
    1493388812590449,
    1493388813590487,
    1493388814590493,
    1493388815593682,
    1493388816593663,
    1493388817584579,
    1493388818584603,
    1493388819584593,
    1493388820584633,
    1493388821584662,
    1493388822584659,
    1493388823584645,
    1493388824584670,
    1493388825584694,
    1493388826584524,
    1493388827584727,
    1493388828591839,
    1493388829591901,
    1493388830591859,
    1493388831591891,
    1493388832591877,
    1493388833591926,
    1493388834583184,
    1493388835583195,
    1493388836583239,
    1493388837583225,
    1493388838588935,
    1493388839588945,
    1493388840590874,
];

/// modbus_test.pcap, 192.168.0.156 → 192.168.0.20 unit 7 FC6 register 4: a write every
/// ~1.0013 s, a repeat 0.5 ms after one, then a 61 s pause.
const MODBUS_TEST_FC6: [u64; 61] = [
    1493388721352917,
    1493388722354287,
    1493388723355602,
    1493388724356872,
    1493388724357373,
    1493388785416766,
    1493388786418129,
    1493388787419529,
    1493388788420749,
    1493388789422062,
    1493388790423341,
    1493388791424721,
    1493388792425910,
    1493388793427220,
    1493388794428571,
    1493388795429885,
    1493388796431116,
    1493388797432423,
    1493388798432972,
    1493388799434298,
    1493388800435654,
    1493388801437007,
    1493388802438368,
    1493388803439718,
    1493388804441054,
    1493388805442489,
    1493388806443981,
    1493388807445474,
    1493388808447040,
    1493388809448616,
    1493388810450010,
    1493388811451457,
    1493388812452918,
    1493388813454382,
    1493388814455859,
    1493388815457361,
    1493388816458803,
    1493388817459174,
    1493388818460577,
    1493388819461675,
    1493388820463075,
    1493388821464507,
    1493388822465902,
    1493388823467371,
    1493388824468985,
    1493388825470427,
    1493388826471869,
    1493388827473369,
    1493388828474774,
    1493388829476131,
    1493388830477497,
    1493388831478869,
    1493388832480218,
    1493388833481563,
    1493388834482896,
    1493388835484240,
    1493388836485597,
    1493388837486958,
    1493388838488218,
    1493388839489520,
    1493388840490781,
];

/// modbus_test.pcap, 192.168.0.21 → 192.168.0.20 unit 1 FC4 registers 0–13: every 1.0 s, with
/// stretches where the master falls behind and sends extra, irregular requests.
const MODBUS_TEST_DISTURBED: [u64; 112] = [
    1493388721715496,
    1493388722711583,
    1493388723706791,
    1493388724705942,
    1493388725715161,
    1493388726714181,
    1493388727711357,
    1493388728715403,
    1493388729708547,
    1493388730708667,
    1493388731711849,
    1493388732713039,
    1493388733716145,
    1493388734714281,
    1493388735709460,
    1493388736714535,
    1493388737712658,
    1493388738710796,
    1493388739714917,
    1493388740716053,
    1493388741707199,
    1493388742707281,
    1493388743709486,
    1493388744712511,
    1493388745706721,
    1493388746706867,
    1493388747713015,
    1493388748707145,
    1493388749710285,
    1493388750707433,
    1493388751710647,
    1493388752714653,
    1493388753709804,
    1493388754710897,
    1493388755711123,
    1493388756708236,
    1493388757712297,
    1493388759444905,
    1493388759784889,
    1493388760712781,
    1493388761712852,
    1493388764559874,
    1493388765169811,
    1493388765707384,
    1493388767469778,
    1493388767814861,
    1493388769614770,
    1493388770094878,
    1493388770711111,
    1493388771710275,
    1493388772715440,
    1493388773709507,
    1493388774709639,
    1493388775710766,
    1493388776713919,
    1493388777714964,
    1493388778707195,
    1493388779706342,
    1493388780706463,
    1493388782434784,
    1493388782779853,
    1493388784604580,
    1493388785089629,
    1493388785706135,
    1493388786708284,
    1493388787710456,
    1493388789394675,
    1493388789716635,
    1493388790716704,
    1493388792409475,
    1493388792710067,
    1493388793715224,
    1493388794710325,
    1493388795706464,
    1493388796707684,
    1493388797712772,
    1493388798712909,
    1493388799712989,
    1493388800706155,
    1493388801714284,
    1493388802711433,
    1493388803710528,
    1493388804712648,
    1493388805712786,
    1493388806710958,
    1493388809363166,
    1493388810234650,
    1493388810710458,
    1493388811715595,
    1493388812710711,
    1493388815350877,
    1493388816224946,
    1493388816715304,
    1493388817707410,
    1493388818708735,
    1493388821345709,
    1493388822214798,
    1493388822711059,
    1493388823706224,
    1493388824715326,
    1493388827327446,
    1493388828204871,
    1493388828709887,
    1493388829711051,
    1493388830706239,
    1493388833317322,
    1493388834189741,
    1493388834714742,
    1493388835712866,
    1493388837404818,
    1493388837711151,
    1493388838712286,
];

#[test]
fn real_ndpi_modbus_fc3() {
    let (est, obs) = run(&NDPI_FC3);
    let e = periodic(&est);
    assert!(rel_err(e.period_us, 1_001_440.0) < 0.002, "{e:?}");
    // The three requests in 3 ms at the end are extra, not a new cadence.
    assert_eq!(&obs[24..], &[Observation::Early; 3]);
    assert_eq!(e.secondary_period_us, None);
}

#[test]
fn real_modbus_test_fc4() {
    let (est, obs) = run(&MODBUS_TEST_FC4);
    let e = periodic(&est);
    assert!(rel_err(e.period_us, 1_000_000.0) < 0.001, "{e:?}");
    assert!(e.jitter_us < 10_000, "{e:?}");
    assert_eq!(off_grid_count(&obs), 0);
    assert!(e.confidence > 0.9, "{e:?}");
}

#[test]
fn real_modbus_test_fc6_with_pause_and_repeat() {
    let (est, obs) = run(&MODBUS_TEST_FC6);
    let e = periodic(&est);
    assert!(rel_err(e.period_us, 1_001_330.0) < 0.001, "{e:?}");
    // Periodic within a dozen writes after the pause, the repeat taken as an extra.
    let first = obs.iter().position(|o| *o != Observation::NoCadence);
    assert!(first.is_some_and(|i| i <= 5 + 12), "{obs:?}");
    assert_eq!(off_grid_count(&obs), 0, "{obs:?}");
}

#[test]
fn real_modbus_test_disturbed_master() {
    let (est, _) = run(&MODBUS_TEST_DISTURBED);
    let e = periodic(&est);
    assert!(rel_err(e.period_us, 1_000_000.0) < 0.005, "{e:?}");
}

#[test]
fn two_cadences_interleaved() {
    // 1 s and 5 s schedules of the same signature, the 5 s one 400 ms out of phase.
    let fast = clock_jitter(S, 0.005, 300, 1);
    let slow: Vec<u64> = clock_jitter(5 * S, 0.001, 60, 2).into_iter().map(|t| t + 400_000).collect();
    let (est, _) = run(&merge(vec![fast, slow]));
    let e = periodic(&est);
    assert!(rel_err(e.period_us, S as f64) < 0.005, "{e:?}");
    let Some(second) = e.secondary_period_us else { panic!("no second cadence: {e:?}") };
    assert!(rel_err(second, 5e6) < 0.02, "{e:?}");
}

#[test]
fn two_cadences_poll_plus_bursts() {
    // A 1 s poll, and every 10 s a burst of three requests 50 ms apart.
    let fast = clock_jitter(S, 0.005, 300, 3);
    let bursts: Vec<u64> = (0..30u64)
        .flat_map(|i| {
            let start = T0 + i * 10 * S + 300_000;
            [start, start + 50_000, start + 100_000]
        })
        .collect();
    let (est, _) = run(&merge(vec![fast, bursts]));
    let e = periodic(&est);
    assert!(rel_err(e.period_us, S as f64) < 0.005, "{e:?}");
    let Some(second) = e.secondary_period_us else { panic!("no second cadence: {e:?}") };
    assert!(rel_err(second, 10e6) < 0.02, "{e:?}");
}

#[test]
fn two_cadences_incommensurate() {
    // 2 s and 7.3 s: the slow schedule drifts across the fast one's grid.
    let fast = clock_jitter(2 * S, 0.01, 300, 4);
    let slow: Vec<u64> = (0..80u64).map(|i| T0 + 100_000 + i * 7_300_000).collect();
    let (est, _) = run(&merge(vec![fast, slow]));
    let e = periodic(&est);
    assert!(rel_err(e.period_us, 2e6) < 0.005, "{e:?}");
    let Some(second) = e.secondary_period_us else { panic!("no second cadence: {e:?}") };
    assert!(rel_err(second, 7.3e6) < 0.02, "{e:?}");
}

#[test]
fn aperiodic_exponential() {
    for mean in [100_000.0, 10e6, 300e6] {
        for seed in 0..20 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut t = T0 as f64;
            let mut est = PeriodEstimator::default();
            let mut periodic_after_learning = 0;
            for i in 0..500 {
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                t += -mean * u.ln();
                est.observe(t as u64);
                if i >= 64 && est.is_periodic() {
                    periodic_after_learning += 1;
                }
            }
            assert_eq!(est.cadence(), Cadence::Aperiodic, "mean {mean} seed {seed}");
            assert_eq!(periodic_after_learning, 0, "mean {mean} seed {seed}: {:?}", est.estimate());
        }
    }
}

#[test]
fn aperiodic_operator_writes() {
    // A handful of writes over an afternoon.
    let offsets_s = [0u64, 37, 41, 300, 302, 1500, 1507, 3600, 5400, 5460];
    let times: Vec<u64> = offsets_s.iter().map(|s| T0 + s * S).collect();
    let (est, obs) = run(&times);
    assert_eq!(est.cadence(), Cadence::Aperiodic);
    assert!(est.estimate().is_none());
    assert!(obs.iter().all(|o| *o == Observation::NoCadence));
    // Fewer than min_intervals + 1 requests: still learning.
    let (est, _) = run(&times[..4]);
    assert_eq!(est.cadence(), Cadence::Learning);
}

#[test]
fn cadence_change_slower() {
    let before: Vec<u64> = clock_jitter(S, 0.01, 120, 5);
    let start = before[before.len() - 1] + 2 * S;
    let mut est = PeriodEstimator::default();
    for &t in &before {
        est.observe(t);
    }
    assert!(rel_err(periodic(&est).period_us, 1e6) < 0.005);
    assert!(est.period_changed_from(S).is_none());
    let mut changed_at = None;
    let mut learned_at = None;
    for i in 0..80u64 {
        est.observe(start + i * 2 * S);
        if changed_at.is_none() {
            if let Some(r) = est.period_changed_from(S) {
                assert!(rel_err(r.period_us, 2e6) < 0.01, "{r:?}");
                changed_at = Some(i + 1);
            }
        }
        if learned_at.is_none() && est.estimate().is_some_and(|e| rel_err(e.period_us, 2e6) < 0.01) {
            learned_at = Some(i + 1);
        }
    }
    // The recent window sees it after a handful of slow polls, the learned period after
    // about a third of the window; neither on the first slow poll (that is a missed poll).
    let changed_at = changed_at.unwrap_or(u64::MAX);
    let learned_at = learned_at.unwrap_or(u64::MAX);
    assert!((5..=16).contains(&changed_at), "changed after {changed_at}");
    assert!((16..=40).contains(&learned_at), "learned after {learned_at}");
    assert!(periodic(&est).confidence > 0.9);
}

#[test]
fn cadence_change_faster() {
    let mut est = PeriodEstimator::default();
    for i in 0..100u64 {
        est.observe(T0 + i * 2 * S);
    }
    let start = T0 + 100 * 2 * S;
    let mut changed_at = None;
    for i in 0..80u64 {
        est.observe(start + i * 500_000);
        if changed_at.is_none() && est.period_changed_from(2 * S).is_some() {
            changed_at = Some(i + 1);
        }
    }
    let changed_at = changed_at.unwrap_or(u64::MAX);
    assert!(changed_at <= 16, "changed after {changed_at}");
    assert_eq!(periodic(&est).period_us, 500_000);
}

#[test]
fn small_period_change_is_a_change() {
    // 1 s → 1.1 s is a different cadence; 1 s → 1.02 s is not.
    for (new, changed) in [(1_100_000u64, true), (1_020_000, false)] {
        let mut est = PeriodEstimator::default();
        for i in 0..100u64 {
            est.observe(T0 + i * S);
        }
        let start = T0 + 100 * S;
        for i in 0..30u64 {
            est.observe(start + i * new);
        }
        assert_eq!(est.period_changed_from(S).is_some(), changed, "{new}");
    }
}

#[test]
fn bounded_work_on_a_long_job() {
    // 200 000 polls: the estimator neither grows nor loses the period.
    let mut est = PeriodEstimator::default();
    for i in 0..200_000u64 {
        est.observe(T0 + i * 100_000 + (i * 7_919) % 3_000);
    }
    let e = periodic(&est);
    assert!(rel_err(e.period_us, 100_000.0) < 0.01, "{e:?}");
    assert_eq!(e.samples, 200_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any period from 100 ms to 60 s with clock jitter up to ±5 %: within 2 % after 20
    /// requests.
    #[test]
    fn period_within_two_percent(
        period in 100_000u64..=60_000_000,
        jitter in 0.0f64..=0.05,
        seed in any::<u64>(),
        interval_model in any::<bool>(),
    ) {
        let times = if interval_model {
            interval_jitter(period, jitter, 20, seed)
        } else {
            clock_jitter(period, jitter, 20, seed)
        };
        let (est, _) = run(&times);
        let e = est.estimate();
        prop_assert!(e.is_some(), "not periodic: {:?}", est.cadence());
        if let Some(e) = e {
            // With a re-armed timer the true period is the mean interval.
            let truth = if interval_model {
                (times[19] - times[0]) as f64 / 19.0
            } else {
                period as f64
            };
            prop_assert!(rel_err(e.period_us, truth) <= 0.02, "{e:?} vs {truth}");
            prop_assert!(rel_err(e.period_us, period as f64) <= 0.05, "{e:?}");
        }
    }

    /// No input panics, and what comes out is sane.
    #[test]
    fn never_panics(
        times in proptest::collection::vec(any::<u64>(), 0..300),
        window in 0usize..200,
        min_intervals in 0usize..20,
        recent in 0usize..100,
        every in 0usize..20,
        factor in any::<f64>(),
        ratio in any::<f64>(),
        floor in any::<u64>(),
    ) {
        let mut est = PeriodEstimator::new(PeriodConfig {
            window,
            recent_window: recent,
            min_intervals,
            recompute_every: every,
            tolerance_jitter_factor: factor,
            tolerance_floor_ratio: ratio,
            tolerance_floor_us: floor,
            change_ratio: ratio,
        });
        for &t in &times {
            est.observe(t);
            check_sane(&est, t)?;
        }
    }

    /// Sorted arbitrary increments (the realistic shape of input) with small, wild and huge
    /// steps.
    #[test]
    fn never_panics_increasing(
        steps in proptest::collection::vec(
            prop_oneof![0u64..10, 0u64..2_000_000, any::<u64>().prop_map(|x| x >> 20)],
            0..400,
        ),
    ) {
        let mut est = PeriodEstimator::default();
        let mut t = 0u64;
        for s in steps {
            t = t.saturating_add(s);
            est.observe(t);
            check_sane(&est, t)?;
        }
    }
}

fn check_sane(est: &PeriodEstimator, t: u64) -> Result<(), TestCaseError> {
    for e in [est.estimate(), est.recent_estimate()].into_iter().flatten() {
        prop_assert!(e.period_us >= 1);
        prop_assert!((0.0..=1.0).contains(&e.confidence));
        prop_assert!(e.tolerance_us <= e.period_us / 2 + 1);
        prop_assert!(e.mad_us <= e.jitter_us);
        let (a, b) = e.expected_next(t);
        prop_assert!(a <= b);
    }
    prop_assert_eq!(est.is_periodic(), est.cadence() == Cadence::Periodic);
    Ok(())
}
