//! A tiny game for this crate's own tests: spots on a line that move by their players' steps,
//! a brain that always steps +1, a prediction that adds the step, and figures that count the
//! views the brain saw.

use serde::{Deserialize, Serialize};
use tickwire_protocol::bits::{BitReader, BitWriter};
use tickwire_protocol::delta::{self, Checksum, DeltaError};
use tickwire_protocol::{
    Command, Record, Schema, Snapshot, StatsRow, Welcome, Wire, encode_server,
};

use crate::{BotGame, Brain, Context, Figures, Prediction};
use tickwire_protocol::ServerMsg;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Line;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub dx: i8,
    pub view_age: u8,
}

impl Wire for Step {}

impl Command for Step {
    fn view_age(&self) -> u8 {
        self.view_age
    }

    fn with_view_age(self, view_age: u8) -> Self {
        Step { view_age, ..self }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spot {
    pub id: u32,
    pub x: u16,
}

impl Record for Spot {
    fn id(&self) -> u32 {
        self.id
    }

    fn write_full(&self, out: &mut BitWriter) {
        out.write(u32::from(self.x), 16);
    }

    fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        Ok(Spot {
            id,
            x: input.read(16)? as u16,
        })
    }

    fn changes(&self, base: &Self, _: u32) -> u32 {
        u32::from(self.x != base.x)
    }

    fn write_changes(&self, _: &Self, _: u32, _: u32, out: &mut BitWriter) {
        self.write_full(out);
    }

    fn read_changes(base: &Self, _: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        Spot::read_full(base.id, input)
    }

    fn is_valid(&self) -> bool {
        true
    }

    fn checksum(&self, sum: &mut Checksum) {
        sum.word(self.id);
        sum.word(u32::from(self.x));
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub player: u32,
}

impl Wire for Score {}

impl StatsRow for Score {
    fn player(&self) -> u32 {
        self.player
    }
}

impl Schema for Line {
    const NAME: &'static str = "line";
    const VERSION: u16 = 1;
    type Setup = Setup;
    type Input = Step;
    type Record = Spot;
    type Stats = Score;
    type Event = Bump;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup;

impl Wire for Setup {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bump;

impl Wire for Bump {}

impl BotGame for Line {
    type Brain = Stepper;
    type Prediction = LinePrediction;
    type Figures = LineFigures;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LineFigures {
    pub views: u64,
    pub interpolated: bool,
}

impl Figures for LineFigures {
    fn merge(&mut self, other: &Self) {
        self.views += other.views;
        self.interpolated |= other.interpolated;
    }
}

#[derive(Debug)]
pub struct Stepper {
    views: u64,
}

impl Brain<Line> for Stepper {
    fn new(_: u64, _: &Welcome<Setup>) -> Self {
        Stepper { views: 0 }
    }

    fn decide(&mut self, _: &Context<'_, Line>) -> Step {
        Step { dx: 1, view_age: 0 }
    }

    fn observe(&mut self, _: &Context<'_, Line>) {
        self.views += 1;
    }

    fn figures(&self, context: &Context<'_, Line>) -> LineFigures {
        LineFigures {
            views: self.views,
            interpolated: context.interpolator.is_some(),
        }
    }
}

#[derive(Debug)]
pub struct LinePrediction;

impl Prediction<Line> for LinePrediction {
    type State = f32;

    fn new(_: &Welcome<Setup>) -> Option<Self> {
        Some(LinePrediction)
    }

    fn state(&self, record: &Spot) -> f32 {
        f32::from(record.x)
    }

    fn step(&self, state: f32, input: &Step) -> f32 {
        state + f32::from(input.dx)
    }

    fn error(&self, predicted: &f32, actual: &f32) -> f32 {
        (predicted - actual).abs()
    }
}

/// A Welcome for player 1, whose entity is 1, in a 30 Hz room.
pub fn welcome() -> Welcome<Setup> {
    Welcome {
        version: tickwire_protocol::PROTOCOL_VERSION,
        player: 1,
        entity: 1,
        room: "line".into(),
        tick_rate: 30,
        snapshot_interval: 1,
        tick: 1,
        setup: Setup,
        resume_token: [0; 16],
        resumed: false,
    }
}

/// A snapshot of `view` at `tick`, coded against `baseline` (tick, view) or in full.
pub fn snapshot(
    tick: u32,
    view: &[Spot],
    baseline: Option<(u32, &[Spot])>,
    last_input: u32,
) -> ServerMsg<Line> {
    let (base_view, age) = match baseline {
        Some((base_tick, base_view)) => (base_view, tick - base_tick),
        None => (&[][..], 0),
    };
    let mut bits = BitWriter::default();
    delta::encode(base_view, view, age, &mut bits);
    ServerMsg::Snapshot(Snapshot {
        tick,
        baseline_age: age as u8,
        last_input,
        checksum: delta::checksum(view),
        scores: Vec::new(),
        scores_removed: Vec::new(),
        body: bits.as_bytes().to_vec(),
    })
}

/// The wire bytes of a server message.
pub fn encoded(msg: &ServerMsg<Line>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_server(msg, &mut out);
    out
}
