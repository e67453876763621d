// Driver for the reference ISNCSCI algorithm (npm package `isncsci`, Praxis) used by
// benchmarks/bench_isncsci.py: classify exams in the flat layout, or time it in-process.
//
//   node isncsci_reference.mjs MODULE_DIR classify IN.json OUT.json   # flat results
//   node isncsci_reference.mjs MODULE_DIR bench IN.json SECONDS       # prints exams/s
//
// MODULE_DIR is a directory with node_modules/isncsci (e.g. /tmp/isncsci-ref). Not a
// dependency of sci-evidence: only the benchmark and development cross-checks use it.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [moduleDir, mode, inFile, arg] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(moduleDir), "noop.js"));
const { ISNCSCI } = require("isncsci");

const SENSORY = ["C2", "C3", "C4", "C5", "C6", "C7", "C8", "T1", "T2", "T3", "T4", "T5", "T6",
  "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2", "S3", "S4_5"];
const MOTOR = ["C5", "C6", "C7", "C8", "T1", "L2", "L3", "L4", "L5", "S1"];

function nested(flat) {
  const side = (s) => {
    const lt = {}, pp = {}, m = {};
    for (const l of SENSORY) {
      lt[l] = flat[`${l.toLowerCase()}${s}Touch`];
      pp[l] = flat[`${l.toLowerCase()}${s}Prick`];
    }
    for (const l of MOTOR) m[l] = flat[`${l.toLowerCase()}${s}Motor`];
    const out = { motor: m, lightTouch: lt, pinPrick: pp };
    const nk = flat[`${s.toLowerCase()}LowestNonKeyMuscleWithMotorFunction`];
    if (nk) out.lowestNonKeyMuscleWithMotorFunction = nk;
    return out;
  };
  return {
    right: side("Right"), left: side("Left"),
    voluntaryAnalContraction: flat.analContraction, deepAnalPressure: flat.analSensation,
  };
}

function flatResult(r) {
  const c = r.classification, t = r.totals, n = c.neurologicalLevels, z = c.zoneOfPartialPreservations;
  return {
    rightSensory: n.sensoryRight, leftSensory: n.sensoryLeft,
    rightMotor: n.motorRight, leftMotor: n.motorLeft,
    neurologicalLevelOfInjury: c.neurologicalLevelOfInjury,
    injuryComplete: c.injuryComplete, asiaImpairmentScale: c.ASIAImpairmentScale,
    rightSensoryZpp: z.sensoryRight, leftSensoryZpp: z.sensoryLeft,
    rightMotorZpp: z.motorRight, leftMotorZpp: z.motorLeft,
    rightUpperMotorTotal: t.right.upperExtremity, leftUpperMotorTotal: t.left.upperExtremity,
    rightLowerMotorTotal: t.right.lowerExtremity, leftLowerMotorTotal: t.left.lowerExtremity,
    rightTouchTotal: t.right.lightTouch, leftTouchTotal: t.left.lightTouch,
    rightPrickTotal: t.right.pinPrick, leftPrickTotal: t.left.pinPrick,
    rightMotorTotal: t.right.motor, leftMotorTotal: t.left.motor,
    upperMotorTotal: t.upperExtremity, lowerMotorTotal: t.lowerExtremity,
    touchTotal: t.lightTouch, prickTotal: t.pinPrick,
  };
}

const exams = JSON.parse(readFileSync(inFile, "utf8")).map(nested);
if (mode === "classify") {
  writeFileSync(arg, JSON.stringify(exams.map((e) => flatResult(new ISNCSCI(e)))));
} else if (mode === "bench") {
  const seconds = Number(arg ?? 3);
  let sink = 0;
  for (const e of exams.slice(0, 2000)) sink += new ISNCSCI(e).totals ? 1 : 0; // warm-up
  let done = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds) {
    for (const e of exams) sink += new ISNCSCI(e).totals ? 1 : 0;
    done += exams.length;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  console.log(JSON.stringify({ exams: done, seconds: elapsed, exams_per_second: done / elapsed, sink }));
} else {
  throw new Error(`unknown mode ${mode}`);
}
