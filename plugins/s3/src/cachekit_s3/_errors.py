"""botocore/aiohttp exceptions → cachekit's hierarchy, at the boundary.

* settings that cannot work (missing bucket, rejected or missing credentials,
  wrong region, access denied, an invalid bucket name) → :class:`S3ConfigurationError`,
  which is a :class:`cachekit.ConfigurationError` *and* a :class:`cachekit.BackendError`:
  callers see a clear configuration problem, and the fail-open paths still absorb it;
* throttling and ``503`` → :class:`cachekit.BackendUnavailableError`;
* connection failures → :class:`cachekit.BackendUnavailableError`;
* connect/read timeouts → :class:`cachekit.BackendTimeoutError`;
* anything else (other 5xx, unexpected replies) → :class:`cachekit.BackendError`.

Messages name the operation, the bucket and S3's error code; never a credential.
botocore is imported lazily: only the error path needs it.
"""

from __future__ import annotations

from typing import Any

from cachekit import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    CacheKitError,
    ConfigurationError,
)

__all__ = ["S3ConfigurationError", "S3KeyError", "error_code", "is_not_found", "translate"]


class S3ConfigurationError(ConfigurationError, BackendError):
    """The S3 settings do not work: the bucket does not exist, the credentials are
    missing or rejected, access is denied, or the region is wrong.

    Found out at first use (it takes a request). Both a
    :class:`~cachekit.ConfigurationError` and a :class:`~cachekit.BackendError`, so
    the key-value API raises it as is and the LLM-call API stays fail-open.
    """


class S3KeyError(ConfigurationError, BackendError):
    """A key that S3 cannot store: longer than 1024 bytes once escaped."""


_CONFIG_CODES = {
    "NoSuchBucket": "the bucket does not exist",
    "InvalidBucketName": "the bucket name is not valid",
    "InvalidAccessKeyId": "the access key id is not known to the server",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "InvalidToken": "the session token is not valid",
    "ExpiredToken": "the session token has expired",
    "TokenRefreshRequired": "the session token has expired",
    "InvalidClientTokenId": "the credentials are not valid",
    "AccessDenied": (
        "access denied (the credentials lack s3:GetObject/PutObject/DeleteObject/"
        "ListBucket on this bucket; without s3:ListBucket, S3 reports a missing key as "
        "AccessDenied)"
    ),
    "AllAccessDisabled": "all access to the bucket is disabled",
    "AccountProblem": "the account has a problem",
    "PermanentRedirect": "the bucket is in another region (set s3_region_name)",
    "AuthorizationHeaderMalformed": "the region is wrong (set s3_region_name)",
    "IllegalLocationConstraintException": "the region is wrong (set s3_region_name)",
    "301": "the bucket is in another region (set s3_region_name)",
    "403": "access denied or credentials rejected",
}
_UNAVAILABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "503",
    }
)
_TIMEOUT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException"})


def error_code(exc: BaseException) -> tuple[str, int | None]:
    """S3's error code and HTTP status of a botocore ``ClientError`` (``("", None)`` else)."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def is_not_found(exc: BaseException) -> bool:
    """A missing *key* (not a missing bucket): ``NoSuchKey``, or a bare 404 from HEAD."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    if not isinstance(exc, ClientError):
        return False
    code, status = error_code(exc)
    return code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code == "")


def translate(exc: BaseException, op: str, bucket: str) -> CacheKitError:
    """The cachekit exception for a failure of ``op`` on ``bucket`` (chain it with ``from``)."""
    if isinstance(exc, CacheKitError):
        return exc
    from botocore import exceptions as bx  # type: ignore[import-untyped]

    where = f"s3 {op} on bucket {bucket!r}"
    if isinstance(exc, bx.ClientError):
        code, status = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", "") or "").strip()
        detail = f"{code or status}" + (f": {message}" if message else "")
        if code in _CONFIG_CODES:
            return S3ConfigurationError(f"{where}: {_CONFIG_CODES[code]} ({detail})")
        if code in _UNAVAILABLE_CODES or status in (429, 503):
            return BackendUnavailableError(f"{where}: throttled or unavailable ({detail})")
        if code in _TIMEOUT_CODES:
            return BackendTimeoutError(f"{where}: timed out ({detail})")
        return BackendError(f"{where} failed ({detail})")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return S3ConfigurationError(
            f"{where}: no usable AWS credentials (give s3_aws_access_key_id and "
            f"s3_aws_secret_access_key, or configure the AWS credential chain): {exc}"
        )
    if isinstance(
        exc,
        bx.NoRegionError
        | bx.CredentialRetrievalError
        | bx.ProfileNotFound
        | bx.InvalidRegionError
        | bx.ParamValidationError
        | bx.InvalidEndpointConfigurationError,
    ):
        return S3ConfigurationError(f"{where}: {exc}")
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError | TimeoutError):
        return BackendTimeoutError(f"{where}: timed out ({type(exc).__name__})")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionError | ConnectionError | OSError):
        return BackendUnavailableError(f"{where}: cannot reach the S3 endpoint ({exc})")
    if isinstance(exc, bx.HTTPClientError) or type(exc).__module__.startswith("aiohttp"):
        return BackendUnavailableError(f"{where}: HTTP failure ({exc})")
    return BackendError(f"{where} failed: {type(exc).__name__}: {exc}")
