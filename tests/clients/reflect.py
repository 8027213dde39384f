"""Lists a Coopbrief data service's gRPC services the way a new Python user would discover
them: with grpcio-reflection's client (reflection v1alpha).

usage: python3 reflect.py HOST:PORT
Prints one service name per line, then, for each Coopbrief service, its methods.
"""

import sys

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from google.protobuf.descriptor_pool import DescriptorPool


def main() -> None:
    channel = grpc.insecure_channel(sys.argv[1])
    database = ProtoReflectionDescriptorDatabase(channel)
    services = database.get_services()
    pool = DescriptorPool(database)
    for name in services:
        print(name)
    for name in services:
        if name.startswith("coopbrief."):
            for method in pool.FindServiceByName(name).methods:
                print(f"{name}/{method.name}")


if __name__ == "__main__":
    main()
