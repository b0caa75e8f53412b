"""factory_boy factories shared by the whole suite."""

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from rollouts.models import Agent, AgentVersion, Rollout
from shadow.models import Interaction, Response
from shadow.services import api_key_create


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"agent-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentVersion
        django_get_or_create = ("agent", "name")

    agent = factory.SubFactory(AgentFactory)
    name = factory.Sequence(lambda n: f"v{n}")


class RolloutFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rollout
        django_get_or_create = ("agent",)

    agent = factory.SubFactory(AgentFactory)
    production = factory.LazyAttribute(lambda o: VersionFactory(agent=o.agent, name="v1"))
    candidate = factory.LazyAttribute(lambda o: VersionFactory(agent=o.agent, name="v2"))
    state = Rollout.State.SHADOWING
    shadow_percent = 100


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    agent = factory.SubFactory(AgentFactory)
    external_id = factory.Sequence(lambda n: f"req-{n}")
    input = "How do I reset my password?"
    created_at = factory.LazyFunction(timezone.now)


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    interaction = factory.SubFactory(InteractionFactory)
    agent = factory.LazyAttribute(lambda o: o.interaction.agent)
    version = factory.LazyAttribute(lambda o: VersionFactory(agent=o.interaction.agent, name="v1"))
    served = True
    output = "Use the 'Forgot password' link on the sign-in page."
    latency_ms = 800
    tokens_in = 100
    tokens_out = 50
    cost_usd = 0.001
    created_at = factory.LazyFunction(timezone.now)


def user_with_role(role: str, username: str | None = None, password: str = "pw") -> User:
    user = User.objects.create_user(username=username or f"{role}-user", password=password)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def api_key_for(agent: Agent, scopes: list[str] | None = None) -> str:
    _, token = api_key_create(
        agent=agent, name="test", scopes=scopes or ["ingest", "routing", "read"]
    )
    return token
