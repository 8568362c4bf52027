"""Every operation the emulator serves, named by its swagger operationId."""

from __future__ import annotations

from reconciler.emulator import (
    arm_accounts,
    arm_deployments,
    azureml,
    azureml_maas,
    azureml_online,
    blobs,
    controls,
    files,
    graders,
    jobs,
    models,
    uploads,
    v1,
)
from reconciler.emulator.routing import (
    ARM_SWAGGER,
    DATA_PLANE_PREVIEW,
    DATA_PLANE_STABLE,
    ML_MFE_SWAGGER,
    ML_WORKSPACE_SWAGGER,
    PREVIEW,
    V1,
    Handler,
    Route,
)

STABLE = "2024-10-21"
DATA_PLANE_VERSIONS = (STABLE, PREVIEW)
ARM_VERSIONS = ("2025-09-01", "2024-10-01")

_DP = "/{accountName}/openai"
_V1 = _DP + "/v1"
_SUB = "/subscriptions/{subscriptionId}"
_RG = _SUB + "/resourceGroups/{resourceGroupName}/providers/Microsoft.CognitiveServices"
_ACCOUNT = _RG + "/accounts/{accountName}"
_DEPLOYMENT = _ACCOUNT + "/deployments/{deploymentName}"
_LOCATION = _SUB + "/providers/Microsoft.CognitiveServices/locations/{location}"
CHAT = "ChatCompletions_Create"
GRADERS_VALIDATE = "FineTuning_ValidateGrader"


def _data(
    method: str,
    path: str,
    operation: str,
    handler: Handler,
    *,
    preview_only: bool = False,
    in_swagger: bool = True,
) -> list[Route]:
    """The operation at its api-versions, and the same operation on the v1 path, its reply in
    the v1 API's shapes (v1.py). The v1 route names no swagger: its contract, the v1 spec, is
    OpenAPI 3.0 and names the operations OpenAI's way (tests/contract maps them)."""
    swagger = (DATA_PLANE_PREVIEW,) if preview_only else (DATA_PLANE_STABLE, DATA_PLANE_PREVIEW)
    versions = (PREVIEW,) if preview_only else DATA_PLANE_VERSIONS
    return [
        Route(
            method,
            _DP + path,
            operation,
            handler,
            swagger if in_swagger else (),
            path,
            "data",
            versions,
        ),
        Route(
            method, _V1 + path, operation, v1.shaped(operation, handler), (), path, "data", (V1,)
        ),
    ]


def _arm(method: str, path: str, operation: str, handler: Handler, swagger: bool = True) -> Route:
    return Route(
        method,
        path,
        operation,
        handler,
        (ARM_SWAGGER,) if swagger else (),
        path if swagger else None,
        "arm",
        ARM_VERSIONS,
    )


# The api-versions azure-ai-ml 1.x sends (each operation group pins its own); the responses follow
# the stable 2024-04-01 contract, which the contract tests check them against.
ML_VERSIONS = (
    "2022-02-01-preview",  # online endpoints and deployments
    "2022-10-01",
    "2023-04-01",
    "2023-04-01-preview",
    "2023-06-01-preview",
    "2023-08-01-preview",
    "2023-10-01",
    "2024-01-01-preview",
    "2024-04-01",
    "2024-04-01-preview",
    "2024-07-01-preview",
    "2024-10-01",
    "2024-10-01-preview",
    "2025-01-01-preview",
    "2025-04-01",
    "2025-04-01-preview",
)
_WS = (
    _SUB + "/resourceGroups/{resourceGroupName}/providers/Microsoft.MachineLearningServices"
    "/workspaces/{workspaceName}"
)


def _ml(method: str, path: str, operation: str, handler: Handler, mfe: bool = True) -> Route:
    swagger = ML_MFE_SWAGGER if mfe else ML_WORKSPACE_SWAGGER
    return Route(method, _WS + path, operation, handler, (swagger,), _WS + path, "arm", ML_VERSIONS)


def azureml_routes() -> list[Route]:
    code = "/codes/{name}/versions/{version}"
    env = "/environments/{name}/versions/{version}"
    data = "/data/{name}/versions/{version}"
    job = "/jobs/{id}"
    return [
        _ml("GET", "", "Workspaces_Get", azureml.workspace_get, mfe=False),
        _ml("PUT", "", "Workspaces_CreateOrUpdate", azureml.workspace_put, mfe=False),
        _ml("GET", "/computes/{computeName}", "Compute_Get", azureml.compute_get, mfe=False),
        _ml("PUT", "/computes/{computeName}", "Compute_CreateOrUpdate", azureml.compute_put, False),
        _ml("GET", "/datastores", "Datastores_List", azureml.datastore_list),
        _ml("GET", "/datastores/{name}", "Datastores_Get", azureml.datastore_get),
        _ml(
            "GET",
            "/codes/{name}/versions",
            "CodeVersions_List",
            azureml.version_lister("code_version"),
        ),
        _ml("GET", code, "CodeVersions_Get", azureml.version_getter("code_version")),
        _ml("PUT", code, "CodeVersions_CreateOrUpdate", azureml.version_putter("code_version")),
        _ml(
            "POST",
            code + "/startPendingUpload",
            "CodeVersions_CreateOrGetStartPendingUpload",
            azureml.start_pending_upload,
        ),
        _ml("GET", env, "EnvironmentVersions_Get", azureml.version_getter("environment_version")),
        _ml(
            "PUT",
            env,
            "EnvironmentVersions_CreateOrUpdate",
            azureml.version_putter("environment_version"),
        ),
        _ml(
            "GET",
            "/data/{name}/versions",
            "DataVersions_List",
            azureml.version_lister("data_version"),
        ),
        _ml("GET", data, "DataVersions_Get", azureml.version_getter("data_version")),
        _ml("PUT", data, "DataVersions_CreateOrUpdate", azureml.version_putter("data_version")),
        # Through azureml_maas, which settles serverless FineTuning jobs on the clock first.
        _ml("GET", "/jobs", "Jobs_List", azureml_maas.job_list),
        _ml("GET", job, "Jobs_Get", azureml_maas.job_get),
        _ml("PUT", job, "Jobs_CreateOrUpdate", azureml_maas.job_put),
        _ml("POST", job + "/cancel", "Jobs_Cancel", azureml.job_cancel),
        _ml("GET", "/data", "DataContainers_List", azureml.data_list),
        *serverless_routes(),
        *online_routes(),
    ]


def serverless_routes() -> list[Route]:
    """Models as a service (azureml_maas): the models FineTuning jobs register, and the
    serverless endpoints that serve them."""
    model = "/models/{name}/versions"
    endpoint = "/serverlessEndpoints/{name}"
    return [
        _ml("GET", model, "ModelVersions_List", azureml_maas.model_versions_list),
        _ml("GET", model + "/{version}", "ModelVersions_Get", azureml_maas.model_version_get),
        _ml("GET", "/serverlessEndpoints", "ServerlessEndpoints_List", azureml_maas.endpoint_list),
        _ml("GET", endpoint, "ServerlessEndpoints_Get", azureml_maas.endpoint_get),
        _ml("PUT", endpoint, "ServerlessEndpoints_CreateOrUpdate", azureml_maas.endpoint_put),
        _ml("DELETE", endpoint, "ServerlessEndpoints_Delete", azureml_maas.endpoint_delete),
        _ml("POST", endpoint + "/listKeys", "ServerlessEndpoints_ListKeys", azureml_maas.keys),
        Route(
            "POST",
            "/serverless/{workspaceGuid}/{name}/chat/completions",
            "Serverless_ChatCompletions",
            azureml_maas.chat_completions,
            plane="serverless",
        ),
    ]


def online_routes() -> list[Route]:
    """Managed online endpoints and deployments (azureml_online), the model versions they serve,
    their long-running operations, and the scoring route."""
    endpoint = "/onlineEndpoints/{endpointName}"
    deployment = endpoint + "/deployments/{deploymentName}"
    model = "/models/{name}/versions/{version}"
    ml_location = _SUB + "/providers/Microsoft.MachineLearningServices/locations/{location}"
    o = azureml_online
    return [
        _ml("PUT", model, "ModelVersions_CreateOrUpdate", azureml.version_putter("model_version")),
        _ml("GET", "/onlineEndpoints", "OnlineEndpoints_List", o.endpoint_list),
        _ml("GET", endpoint, "OnlineEndpoints_Get", o.endpoint_get),
        _ml("PUT", endpoint, "OnlineEndpoints_CreateOrUpdate", o.endpoint_put),
        _ml("DELETE", endpoint, "OnlineEndpoints_Delete", o.endpoint_delete),
        _ml("POST", endpoint + "/listKeys", "OnlineEndpoints_ListKeys", o.keys),
        _ml("GET", endpoint + "/deployments", "OnlineDeployments_List", o.deployment_list),
        _ml("GET", deployment, "OnlineDeployments_Get", o.deployment_get),
        _ml("PUT", deployment, "OnlineDeployments_CreateOrUpdate", o.deployment_put),
        _ml("DELETE", deployment, "OnlineDeployments_Delete", o.deployment_delete),
        # Azure ML's LRO convention; not operations of the swagger.
        Route(
            "GET",
            ml_location + "/mfeOperationsStatus/{operationId}",
            "MfeOperationsStatus_Get",
            o.operation_status,
            plane="arm",
            api_versions=ML_VERSIONS,
        ),
        Route(
            "GET",
            ml_location + "/mfeOperationResults/{operationId}",
            "MfeOperationResults_Get",
            o.operation_result,
            plane="arm",
            api_versions=ML_VERSIONS,
        ),
        Route(
            "POST",
            "/online/{workspaceGuid}/{name}/score",
            "OnlineEndpoints_Score",
            o.score,
            plane="serverless",  # authorised by the endpoint's key, as a serverless endpoint's
        ),
    ]


def blob_routes() -> list[Route]:
    """The embedded blob service (blobs.py): no swagger (Azure Storage's is XML, and Azurite is
    what tests of the blob client against the full service use)."""
    container = blobs.PREFIX + "/{storageAccount}/{container}"
    blob = container + "/{blobPath+}"
    return [
        Route("PUT", container, "Blob_CreateContainer", blobs.container_put, plane="blob"),
        Route("GET", container, "Blob_ListBlobs", blobs.container_get, plane="blob"),
        Route("PUT", blob, "Blob_Put", blobs.blob_put, plane="blob"),
        Route("GET", blob, "Blob_Get", blobs.blob_get, plane="blob"),
        Route("HEAD", blob, "Blob_GetProperties", blobs.blob_head, plane="blob"),
        Route("DELETE", blob, "Blob_Delete", blobs.blob_delete, plane="blob"),
    ]


def _control(method: str, path: str, name: str, handler: Handler) -> Route:
    return Route(method, "/_emulator" + path, name, handler, plane="control")


def data_plane_routes() -> list[Route]:
    job = "/fine_tuning/jobs/{fine-tuning-job-id}"
    upload = "/uploads/{upload-id}"
    groups = [
        _data("GET", "/files", "Files_List", files.list_files),
        _data("POST", "/files", "Files_Upload", files.upload),
        _data("POST", "/files/import", "Files_Import", files.import_file),
        _data("GET", "/files/{file-id}", "Files_Get", files.get_file),
        _data("DELETE", "/files/{file-id}", "Files_Delete", files.delete_file),
        _data("GET", "/files/{file-id}/content", "Files_GetContent", files.file_content),
        _data("POST", "/uploads", "UploadFile_Start", uploads.start, preview_only=True),
        _data("POST", upload + "/parts", "UploadFile_Part", uploads.add_part, preview_only=True),
        _data(
            "POST", upload + "/complete", "UploadFile_Complete", uploads.complete, preview_only=True
        ),
        _data("POST", upload + "/cancel", "UploadFile_Cancel", uploads.cancel, preview_only=True),
        _data("GET", "/fine_tuning/jobs", "FineTuning_List", jobs.list_jobs),
        _data("POST", "/fine_tuning/jobs", "FineTuning_Create", jobs.create),
        _data("GET", job, "FineTuning_Get", jobs.get_job),
        _data("DELETE", job, "FineTuning_Delete", jobs.delete),
        _data("POST", job + "/cancel", "FineTuning_Cancel", jobs.cancel),
        _data("GET", job + "/events", "FineTuning_GetEvents", jobs.events),
        _data("GET", job + "/checkpoints", "FineTuning_GetCheckpoints", jobs.checkpoints),
        _data("POST", job + "/pause", "FineTuning_Pause", jobs.pause, preview_only=True),
        _data("POST", job + "/resume", "FineTuning_Resume", jobs.resume, preview_only=True),
        # OpenAI's grader validation: in no vendored swagger (Azure serves it with the preview).
        _data(
            "POST",
            "/fine_tuning/alpha/graders/validate",
            GRADERS_VALIDATE,
            graders.validate,
            preview_only=True,
            in_swagger=False,
        ),
        _data("GET", "/models", "Models_List", models.list_models),
        _data("GET", "/models/{model-id}", "Models_Get", models.get_model),
        # From the inference swagger (not among the stored contracts).
        _data(
            "POST",
            "/deployments/{deployment-id}/chat/completions",
            CHAT,
            models.chat_completions,
            in_swagger=False,
        ),
    ]
    # v1 also answers chat at /chat/completions, the deployment named by the body's `model`
    # (what `openai.OpenAI(base_url=.../openai/v1)` sends).
    v1_chat = Route(
        "POST",
        _V1 + "/chat/completions",
        CHAT,
        v1.shaped(CHAT, models.chat_completions),
        (),
        "/chat/completions",
        "data",
        (V1,),
    )
    return [route for group in groups for route in group] + [v1_chat]


def arm_routes() -> list[Route]:
    accounts = _RG + "/accounts"
    return [
        _arm("PUT", _ACCOUNT, "Accounts_Create", arm_accounts.create),
        _arm("PATCH", _ACCOUNT, "Accounts_Update", arm_accounts.update),
        _arm("DELETE", _ACCOUNT, "Accounts_Delete", arm_accounts.delete),
        _arm("GET", _ACCOUNT, "Accounts_Get", arm_accounts.get),
        _arm("GET", accounts, "Accounts_ListByResourceGroup", arm_accounts.list_by_resource_group),
        _arm(
            "GET",
            _SUB + "/providers/Microsoft.CognitiveServices/accounts",
            "Accounts_List",
            arm_accounts.list_by_subscription,
        ),
        _arm("POST", _ACCOUNT + "/listKeys", "Accounts_ListKeys", arm_accounts.list_keys),
        _arm("GET", _ACCOUNT + "/skus", "Accounts_ListSkus", arm_accounts.list_skus),
        _arm("GET", _ACCOUNT + "/usages", "Accounts_ListUsages", arm_accounts.list_usages),
        _arm("GET", _ACCOUNT + "/models", "Accounts_ListModels", arm_accounts.list_models),
        _arm("GET", _LOCATION + "/models", "Models_List", arm_accounts.list_location_models),
        _arm(
            "GET", _ACCOUNT + "/deployments", "Deployments_List", arm_deployments.list_deployments
        ),
        _arm("GET", _DEPLOYMENT, "Deployments_Get", arm_deployments.get),
        _arm("PUT", _DEPLOYMENT, "Deployments_CreateOrUpdate", arm_deployments.create_or_update),
        _arm("PATCH", _DEPLOYMENT, "Deployments_Update", arm_deployments.update),
        _arm("DELETE", _DEPLOYMENT, "Deployments_Delete", arm_deployments.delete),
        _arm("GET", _DEPLOYMENT + "/skus", "Deployments_ListSkus", arm_deployments.list_skus),
        # ARM's LRO convention; not operations of the swagger.
        _arm(
            "GET",
            _LOCATION + "/operationStatuses/{operationId}",
            "OperationStatuses_Get",
            arm_deployments.operation_status,
            swagger=False,
        ),
        _arm(
            "GET",
            _LOCATION + "/operationResults/{operationId}",
            "OperationResults_Get",
            arm_deployments.operation_result,
            swagger=False,
        ),
    ]


def control_routes() -> list[Route]:
    return [
        _control("GET", "/requests", "requests", controls.requests),
        _control("GET", "/operations", "operations", controls.operations),
        _control("GET", "/stats", "stats", controls.stats),
        _control("GET", "/clock", "clock", controls.get_clock),
        _control("POST", "/clock", "clock", controls.advance_clock),
        _control("GET", "/faults", "faults", controls.get_faults),
        _control("POST", "/faults", "faults", controls.set_faults),
        _control("POST", "/freeze", "freeze", controls.set_freeze),
        _control("GET", "/settings", "settings", controls.get_settings),
        _control("POST", "/settings", "settings", controls.set_settings),
        _control("POST", "/jobs/{fine-tuning-job-id}/preempt", "preempt", controls.preempt),
        _control("POST", "/mljobs/{id}/fail", "fail_ml_job", controls.fail_ml_job),
        _control("POST", "/reset", "reset", controls.reset),
    ]


def all_routes() -> list[Route]:
    return control_routes() + blob_routes() + arm_routes() + azureml_routes() + data_plane_routes()
