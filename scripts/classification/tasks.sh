# The public datasets and the label each is evaluated on (sourced by linear_probe.sh and finetune.sh).
TASKS=(aptos:dr areds:amd deepdrid:dr eyepacs:dr fives:disease glaucoma:glaucoma idrid:drbin idrid:dr messidor:dr papila:glaucoma)
