/// Golden outputs of the renderers for `Script.play` (see ProgressTests.swift).
/// Reviewed by hand: change them only with the renderer, on purpose.
enum Golden {
    static let plain = #"""
        Considering 4 stages.
        - node.clone@c1-w1 (done)
        ==> node.clone@c1-cp
        … node.identity@c1-cp waits for base-vm (held by node.clone@c1-cp)
          [c1-cp] vmrun clone linked
        ✓ node.clone@c1-cp (1.5s)
        warning: the base VM has 2 snapshots named snapshot#1
        ==> node.identity@c1-cp
          [c1-cp] writing /etc/hosts
        ✗ node.identity@c1-cp (2.2s): stage node.identity on c1-cp did not finish within 2s
        Failed in 4.3s: 1 ran, 1 already done, 1 failed

        1 stage failed after 4.3s. Nothing was destroyed.

        ✗ node.identity on node c1-cp: stage node.identity on c1-cp did not finish within 2s
            hint: look at the log of c1-cp (`labctl logs c1-cp`), then run `labctl up` again
            last log lines:
              | writing /etc/hosts
              | setting hostname

        Not started: 1 stage.

        To resume: labctl up --lab lab.json

        """#

    static let json = #"""
        {"event":"runStarted","instances":["node.clone@c1-cp","node.clone@c1-w1","node.identity@c1-cp","node.checkpoint@c1-cp"]}
        {"event":"stageSkipped","instance":"node.clone@c1-w1","reason":"done","scope":"node:c1-w1","stage":"node.clone"}
        {"event":"stageStarted","instance":"node.clone@c1-cp","scope":"node:c1-cp","stage":"node.clone"}
        {"event":"waiting","hint":"held by node.clone@c1-cp","instance":"node.identity@c1-cp","requirement":"base-vm","scope":"node:c1-cp","stage":"node.identity"}
        {"event":"log","line":"vmrun clone linked","scope":"node:c1-cp"}
        {"event":"stageFinished","instance":"node.clone@c1-cp","scope":"node:c1-cp","seconds":1.5,"stage":"node.clone"}
        {"event":"warning","message":"the base VM has 2 snapshots named snapshot#1"}
        {"event":"stageStarted","instance":"node.identity@c1-cp","scope":"node:c1-cp","stage":"node.identity"}
        {"event":"log","line":"writing /etc/hosts","scope":"node:c1-cp"}
        {"error":{"code":"timeout","hint":"look at the log of c1-cp (`labctl logs c1-cp`), then run `labctl up` again","location":"stage node.identity@c1-cp","message":"stage node.identity on c1-cp did not finish within 2s"},"event":"stageFailed","instance":"node.identity@c1-cp","log":["writing /etc/hosts","setting hostname"],"scope":"node:c1-cp","stage":"node.identity"}
        {"event":"runFinished","failures":[{"error":{"code":"timeout","hint":"look at the log of c1-cp (`labctl logs c1-cp`), then run `labctl up` again","location":"stage node.identity@c1-cp","message":"stage node.identity on c1-cp did not finish within 2s"},"instance":"node.identity@c1-cp","log":["writing /etc/hosts","setting hostname"]}],"notReached":["node.checkpoint@c1-cp"],"outcome":"failed","ran":["node.clone@c1-cp"],"resume":"labctl up --lab lab.json","seconds":4.3,"skipped":["node.clone@c1-w1"]}

        """#
}
