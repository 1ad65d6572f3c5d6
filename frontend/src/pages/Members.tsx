export function MembersPage() {
  return <p>Members</p>;
}
