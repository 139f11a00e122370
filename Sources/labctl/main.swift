import LabctlCLI

await Labctl.runMain()
