"""The support desk: members' messages relayed to the staff, their answers, routes and blocks."""
