from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingReply(_message.Message):
    __slots__ = ("pid", "location", "load_error")
    PID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LOAD_ERROR_FIELD_NUMBER: _ClassVar[int]
    pid: int
    location: str
    load_error: bool
    def __init__(self, pid: _Optional[int] = ..., location: _Optional[str] = ..., load_error: _Optional[bool] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSnapshotReply(_message.Message):
    __slots__ = ("snapshot", "error")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    snapshot: bytes
    error: bytes
    def __init__(self, snapshot: _Optional[bytes] = ..., error: _Optional[bytes] = ...) -> None: ...

class EvaluateTicksRequest(_message.Message):
    __slots__ = ("ticks", "traceparents")
    TICKS_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENTS_FIELD_NUMBER: _ClassVar[int]
    ticks: _containers.RepeatedScalarFieldContainer[bytes]
    traceparents: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ticks: _Optional[_Iterable[bytes]] = ..., traceparents: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateTicksReply(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, outcomes: _Optional[_Iterable[bytes]] = ...) -> None: ...
