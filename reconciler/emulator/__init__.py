"""A faithful local Azure for ftops: the Azure OpenAI data plane (files, uploads, fine-tuning jobs
with supervised, DPO and reinforcement methods, graders, models, chat completions) per account at
`{url}/{accountName}/openai/...` and on the v1 API at `{url}/{accountName}/openai/v1/...`, and ARM
(Microsoft.CognitiveServices accounts and deployments) at `{url}/subscriptions/...`, served over
HTTP so that the unmodified `openai.AzureOpenAI` / `openai.OpenAI` and
`CognitiveServicesManagementClient` talk to it.

Start it with `server.start_background(state_path)` (tests, embedded use) or
`python -m reconciler.emulator` / `ftops emulator` (see `server.add_arguments`).

Conventions a user of the emulator needs to know:
- Accounts must be created through ARM (Accounts_Create) before their data plane answers; any
  `api-key` (or any bearer token) is accepted.
- An account's tenant is the tag `ftops-emulator-tenant` of its PUT body (default
  `world.DEFAULT_TENANT`); deploying from a `sourceAccount`/`source` in another tenant needs the
  `x-ms-authorization-auxiliary: Bearer <token>` header.
- Data markers: a training file containing `FTOPS_EMULATOR_UNSAFE_DATA` fails its job at the data
  safety evaluation (error code `invalidTrainingFile`); one containing
  `FTOPS_EMULATOR_UNSAFE_MODEL` fails it at the model safety evaluation after training (error code
  `modelEvaluationFailed`).
- Time is simulated (`--time-scale`, simulated seconds per real second; `POST /_emulator/clock`
  advances it) and persists in the state file; it passes only while an emulator runs.
- Faults: `--faults SPEC` or `POST /_emulator/faults` (syntax in `faults.py`).
- Test controls under `/_emulator/` (see `controls.py`), among them the reinforcement cost cap
  (`settings`) and Developer-tier preemption (`jobs/{id}/preempt`).
- This package imports nothing from the rest of `reconciler`.
"""
